"""Realistic sample data for the bike_rentals model: hourly rentals of N stations.

    python models/bike_rentals/sample_data.py OUT.parquet [--stations 20] [--days 730]

It also writes stations.csv beside OUT.parquet: each station's name and position (for a
map in a notebook; the model does not use them).

Each station has its own size; demand follows commuting peaks on working days and a
midday hump at weekends, falls with rain, snow, cold, heat and humidity, and is Poisson
around ``expected_rentals``. 20 stations x 730 days x 24 hours = 350,400 rows. Some
humidity readings are missing (the field is optional). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEATHER_FACTOR = {"clear": 1.0, "cloudy": 0.85, "rain": 0.4, "snow": 0.2}


def station_size(station) -> np.ndarray:
    """Mean rentals of a station in a busy hour: 10 .. 60, fixed per station id."""
    s = np.asarray(station, dtype=float)
    return 10.0 + 50.0 * ((s * 0.6180339887) % 1.0)


def expected_rentals(station, hour, weekday, temperature, humidity, weather, holiday):
    """The mean the generator draws around (vectorised; the truth a model should learn)."""
    hour = np.asarray(hour, dtype=float)
    working = np.isin(weekday, WEEKDAYS[:5]) & (np.asarray(holiday) == "no")
    commute = np.exp(-((hour - 8) ** 2) / 2.0) + 0.9 * np.exp(-((hour - 17.5) ** 2) / 3.0)
    leisure = np.exp(-((hour - 14) ** 2) / 12.0)
    profile = np.where(working, 0.08 + commute, 0.05 + 0.8 * leisure)
    temp = np.exp(-((np.asarray(temperature, dtype=float) - 22.0) ** 2) / 200.0)
    hum = np.where(np.isnan(np.asarray(humidity, dtype=float)), 60.0, humidity)
    damp = 1.0 - 0.006 * np.clip(hum - 60.0, 0, None)
    sky = np.vectorize(WEATHER_FACTOR.get)(weather)
    return station_size(station) * profile * temp * damp * sky


def station_locations(stations: int = 20) -> pd.DataFrame:
    """station, name, lat, lon: the stations on a spiral around a city centre (fixed)."""
    ids = np.arange(1, stations + 1)
    angle = ids * 2.399963  # the golden angle: evenly spread, no two on one ray
    radius = 0.004 * np.sqrt(ids) * 4
    return pd.DataFrame(
        {
            "station": ids.astype(str),
            "name": [f"Station {i}" for i in ids],
            "lat": np.round(48.8566 + radius * np.sin(angle), 5),
            "lon": np.round(2.3522 + 1.5 * radius * np.cos(angle), 5),
        }
    )


def generate(stations: int = 20, days: int = 730, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2023-01-01", periods=days * 24, freq="h")
    day_of_year = times.dayofyear.to_numpy()
    hour = times.hour.to_numpy()
    # One weather history for the city, shared by every station.
    season = 11.0 - 10.0 * np.cos(2 * np.pi * (day_of_year - 15) / 365.0)
    daily = 4.0 * np.sin(2 * np.pi * (hour - 9) / 24.0)
    temperature = np.round(season + daily + rng.normal(0, 3, len(times)), 1)
    humidity = np.clip(np.round(65 - 0.8 * daily * 3 + rng.normal(0, 12, len(times))), 5, 100)
    humidity[rng.random(len(times)) < 0.02] = np.nan
    wet = rng.random(len(times))
    weather = np.where(wet < 0.55, "clear", np.where(wet < 0.85, "cloudy", "rain"))
    weather = np.where((weather == "rain") & (temperature < 1.0), "snow", weather)
    weekday = np.asarray(WEEKDAYS)[times.dayofweek.to_numpy()]
    holiday_days = {1, 121, 359, 360}  # a few fixed holidays a year
    holiday = np.where(np.isin(day_of_year, list(holiday_days)), "yes", "no")
    frames = []
    for station in range(1, stations + 1):
        mean = expected_rentals(station, hour, weekday, temperature, humidity, weather, holiday)
        frames.append(
            pd.DataFrame(
                {
                    "station": str(station),
                    "time": times,
                    "hour": hour,
                    "weekday": weekday,
                    "temperature": temperature,
                    "humidity": humidity,
                    "weather": weather,
                    "holiday": holiday,
                    "rentals": rng.poisson(mean),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    frame = generate(args.stations, args.days, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".part")
    # Spark reads microsecond timestamps, not pandas' default nanoseconds.
    frame.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    tmp.replace(args.out)
    station_locations(args.stations).to_csv(args.out.parent / "stations.csv", index=False)
    print(f"{args.out}: {len(frame):,} rows, {frame['station'].nunique()} stations")


if __name__ == "__main__":
    main()
