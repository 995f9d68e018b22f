#!/usr/bin/env python3
"""Count a REES46 e-commerce CSV per minute, product page and event type.

This is an oracle for `pulso replay`, written separately from the Rust code so that the two can
check each other. It applies the replay's mapping rules:

- page: /product/<product_id>
- event type: view -> page_view, cart -> add_to_cart, remove_from_cart and purchase unchanged;
  any other value is an error naming the line
- time: `event_time` such as `2019-10-01 00:00:00 UTC`, in epoch milliseconds, plus
  --shift-minutes whole minutes
- every row counts, so identical rows count twice

It prints CSV `window_start_ms,page,event_type,count` to standard output, sorted by window
start, page and event type. Only the standard library is used.

Usage: rees46_counts.py FILE [--shift-minutes N] [--window-seconds S]
"""

import argparse
import csv
import datetime
import sys
from collections import Counter

EXPECTED_HEADER = [
    "event_time", "event_type", "product_id", "category_id", "category_code",
    "brand", "price", "user_id", "user_session",
]
EVENT_TYPES = {
    "view": "page_view",
    "cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "purchase": "purchase",
}


class InputError(Exception):
    """A row that cannot be mapped; the message names the file and line."""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="REES46 CSV file")
    parser.add_argument("--shift-minutes", type=int, default=0,
                        help="minutes added to every event time, as `pulso replay --shift-to-now` does")
    parser.add_argument("--window-seconds", type=int, default=60,
                        help="window size in seconds (default 60)")
    return parser.parse_args(argv)


def event_time_ms(text, where):
    """Convert `2019-10-01 00:00:00 UTC` to epoch milliseconds."""
    if not text.endswith(" UTC"):
        raise InputError(f"{where}: event_time {text!r} does not end in ' UTC'")
    try:
        naive = datetime.datetime.strptime(text[:-4], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InputError(f"{where}: event_time {text!r} is not of the form '2019-10-01 00:00:00 UTC'") from None
    aware = naive.replace(tzinfo=datetime.timezone.utc)
    return int(aware.timestamp()) * 1000


def count_rows(path, shift_minutes, window_seconds):
    """Return a Counter keyed by (window_start_ms, page, event_type)."""
    window_ms = window_seconds * 1000
    shift_ms = shift_minutes * 60_000
    counts = Counter()
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != EXPECTED_HEADER:
            raise InputError(f"{path}: line 1: header {header!r} is not the REES46 header")
        for row in reader:
            where = f"{path}: line {reader.line_num}"
            if len(row) != len(EXPECTED_HEADER):
                raise InputError(f"{where}: {len(row)} fields, expected {len(EXPECTED_HEADER)}")
            event_time, raw_type, product_id = row[0], row[1], row[2]
            if raw_type not in EVENT_TYPES:
                raise InputError(f"{where}: event_type {raw_type!r} is unknown")
            if not product_id.isdigit():
                raise InputError(f"{where}: product_id {product_id!r} is not an integer")
            time_ms = event_time_ms(event_time, where) + shift_ms
            window_start_ms = time_ms - time_ms % window_ms
            counts[(window_start_ms, f"/product/{product_id}", EVENT_TYPES[raw_type])] += 1
    return counts


def main(argv):
    args = parse_args(argv)
    if args.window_seconds <= 0:
        print(f"error: --window-seconds {args.window_seconds} must be positive", file=sys.stderr)
        return 2
    try:
        counts = count_rows(args.file, args.shift_minutes, args.window_seconds)
    except (InputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["window_start_ms", "page", "event_type", "count"])
    for key in sorted(counts):
        writer.writerow([*key, counts[key]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
