#!/usr/bin/env bash
# make screenshot: on the running lab (make demo), two phases of requests to both models
# with Debian's wrk (benchmarks/wrkload.py: the rates swap half-way, so the graph shows
# each model's own line), then headless Chromium takes a picture of Prometheus's graph of
# requests per model: docs/prometheus-requests-per-model.png (the README shows it).
#   SCREENSHOT_PHASE_SECONDS=120 (each phase)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/docs/prometheus-requests-per-model.png
phase=${SCREENSHOT_PHASE_SECONDS:-120}
label=analytics-platform.url

[ -f "$root/inventory/lab/hosts.ini" ] || { echo "screenshot: no lab is running. Fix: make demo" >&2; exit 2; }
command -v chromium >/dev/null || { echo "screenshot: no chromium. Fix: apt-get install chromium" >&2; exit 2; }
command -v wrk >/dev/null || { echo "screenshot: no wrk. Fix: apt-get install wrk" >&2; exit 2; }
prom=$(docker exec lab-master docker inspect prometheus --format "{{index .Config.Labels \"$label\"}}" 2>/dev/null) \
  || { echo "screenshot: no Prometheus on lab-master. Fix: make demo (the lab inventory has a monitoring group)" >&2; exit 2; }
serving=$(docker inspect lab-serving1 --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')

sales='{"scope": "1", "date": "2025-01-31"}'
bikes='{"scope": "3", "hour": 8, "weekday": "tue", "temperature": 18.5, "weather": "clear", "holiday": "no"}'
load() {  # load MODEL BODY RATE
  python3 "$root/benchmarks/wrkload.py" "http://$serving/models/$1/predict" --body "$2" \
    --rate "$3" --connections 2 --seconds "$phase" > /dev/null
}
echo "screenshot: $((2 * phase)) s of requests through http://$serving/"
load sales_forecast "$sales" 40 & load bike_rentals "$bikes" 10 & wait
load sales_forecast "$sales" 15 & load bike_rentals "$bikes" 30 & wait
sleep 20  # the last scrapes

expr='sum by (model) (rate(serving_requests_total{model!=""}[1m]))'
query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$expr")
minutes=$(( (2 * phase + 120) / 60 ))
url="$prom/classic/graph?g0.expr=$query&g0.tab=0&g0.range_input=${minutes}m"
mkdir -p "$(dirname "$out")"
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
  --virtual-time-budget=10000 --screenshot="$out" "$url" 2>/dev/null
echo "screenshot: $out ($url)"
