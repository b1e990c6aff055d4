-- wrk script: POST one forecast to the per-model endpoint (the scenario's test model).
wrk.method = "POST"
wrk.body = '{"scope": "1", "date": "2025-01-31"}'
wrk.headers["Content-Type"] = "application/json"
