"""Requests each dashboard API endpoint repeatedly, one at a time, and prints p50 and p99
latency per store and endpoint. Usage: api_latency.py --requests N name=URL [name=URL ...]"""

import argparse
import statistics
import time
import urllib.request

ENDPOINTS = {
    "top-pages 15m": "/api/v1/top-pages?range=15m&limit=20",
    "top-pages 24h": "/api/v1/top-pages?range=24h&limit=20",
    "series 1h, 3 pages": "/api/v1/series?range=1h&page=/produto/item-1&page=/produto/item-2&page=/produto/item-3",
    "series 24h, 3 pages": "/api/v1/series?range=24h&page=/produto/item-1&page=/produto/item-2&page=/produto/item-3",
}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(base: str, path: str, requests: int) -> list[float]:
    urllib.request.urlopen(base + path, timeout=60).read()  # warm-up, not counted
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        with urllib.request.urlopen(base + path, timeout=60) as response:
            response.read()
            if response.status != 200:
                raise SystemExit(f"{base}{path} returned {response.status}")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("targets", nargs="+", help="name=URL")
    args = parser.parse_args()
    print(f"  {'store':<11} {'endpoint':<22} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for target in args.targets:
        name, base = target.split("=", 1)
        for label, path in ENDPOINTS.items():
            samples = measure(base, path, args.requests)
            print(f"  {name:<11} {label:<22} {percentile(samples, 0.5):8.1f} {percentile(samples, 0.99):8.1f} {statistics.mean(samples):8.1f}")


if __name__ == "__main__":
    main()
