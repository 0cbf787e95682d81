"""Dates as collections write them, read once for every part of the node.

Publishing fills `fed_event_start` / `fed_event_end` from `eventDate`, and embargoes decide
on every date a record carries; both read dates here, so a form one of them understands can
never slip past the other. Besides ISO 8601 (dates, months, years, times, intervals
`a/b` with an abbreviated end), real labels and spreadsheets write `20/11/2026`,
`11/20/2026`, `20.11.2026`, `2026/11/20`, `20261120`, `20 Nov 2026`, `Nov. 20, 2026`,
`2026年11月20日` and `ngày 20 tháng 11 năm 2026`. A day-month order that cannot be told
apart (`03/04/2026`) gives the earliest start and the latest end of both readings: the
range that certainly contains the date, which is the cautious answer for an embargo.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

# Collections repeat the same few thousand dates across millions of records: cache them.
DATE_CACHE_SIZE = 200_000
_MONTHS = {
    name: number
    for number in range(1, 13)
    for name in (
        calendar.month_name[number].lower(),
        calendar.month_abbr[number].lower(),
        calendar.month_abbr[number].lower() + ".",
    )
}
_MONTHS["sept"] = _MONTHS["sept."] = 9
_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:[T ][0-9:.,+\-Z]*)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YEAR_FIRST = re.compile(r"^(\d{4})[/.](\d{1,2})(?:[/.](\d{1,2}))?$")
_YEAR_LAST = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_MONTH_YEAR = re.compile(r"^(\d{1,2})[/.\-](\d{4})$")
_CJK = re.compile(r"^(\d{4})\s*年\s*(?:(\d{1,2})\s*月\s*(?:(\d{1,2})\s*日)?)?$")
_VIETNAMESE = re.compile(
    r"^(?:ngày\s*(\d{1,2})\s*)?(?:tháng\s*(\d{1,2})\s*)?năm\s*(\d{4})$", re.IGNORECASE
)
_WORDS = re.compile(r"[A-Za-z]+\.?|\d+")


def _bounds(year: int, month: int | None, day: int | None) -> tuple[dt.date, dt.date] | None:
    """The first and last day a (possibly partial) date covers; None if it does not exist."""
    try:
        if month is None:
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        if day is None:
            return dt.date(year, month, 1), dt.date(
                year, month, calendar.monthrange(year, month)[1]
            )
        when = dt.date(year, month, day)
    except ValueError:
        return None
    return when, when


def _number(text: str | None) -> int | None:
    return int(text) if text else None


def _readings(text: str) -> list[tuple[dt.date, dt.date] | None]:
    """Every way the text can be read as a date (several when day and month are ambiguous)."""
    if match := _ISO.match(text) or _YEAR_FIRST.match(text) or _CJK.match(text):
        return [_bounds(int(match[1]), _number(match[2]), _number(match[3]))]
    if match := _COMPACT.match(text):
        return [_bounds(int(match[1]), int(match[2]), int(match[3]))]
    if match := _YEAR_LAST.match(text):
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        return [_bounds(year, second, first), _bounds(year, first, second)]
    if match := _MONTH_YEAR.match(text):
        return [_bounds(int(match[2]), int(match[1]), None)]
    if match := _VIETNAMESE.match(text):
        return [_bounds(int(match[3]), _number(match[2]), _number(match[1]))]
    return [_words(text)]


def _words(text: str) -> tuple[dt.date, dt.date] | None:
    """`20 Nov 2026`, `Nov. 20, 2026`, `November 2026`: one month name, one year."""
    tokens = _WORDS.findall(text.replace(",", " "))
    months = [_MONTHS[t.lower()] for t in tokens if t.lower() in _MONTHS]
    numbers = [int(t) for t in tokens if t.isdigit()]
    words = [t for t in tokens if not t.isdigit()]
    years = [n for n in numbers if n >= 1000]
    days = [n for n in numbers if n < 1000]
    if len(months) != 1 or len(words) != 1 or len(years) != 1 or len(days) > 1:
        return None
    return _bounds(years[0], months[0], days[0] if days else None)


def date_range(text: str) -> tuple[dt.date, dt.date] | None:
    """One date in any form above -> (first day, last day) it may mean; None if unreadable."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    readings = _readings(cleaned)
    if not readings or any(r is None for r in readings):
        valid = [r for r in readings if r is not None]
        if not valid:
            return None
        readings = list[tuple[dt.date, dt.date] | None](valid)
    firsts = [r[0] for r in readings if r]
    lasts = [r[1] for r in readings if r]
    return min(firsts), max(lasts)


@functools.lru_cache(maxsize=DATE_CACHE_SIZE)
def parse_event_date(text: str | None) -> tuple[dt.date | None, dt.date | None]:
    """A date or an interval `a/b` -> (first day, last day); (None, None) if unreadable.

    An interval's end may abbreviate leading parts of its start (`2020-03-01/15`).
    """
    if not text or not text.strip():
        return None, None
    whole = date_range(text)
    if whole:
        return whole
    first, _, second = unicodedata.normalize("NFKC", text).strip().partition("/")
    if not second:
        return None, None
    first, second = first.strip(), second.strip()
    start = date_range(first)
    if start and re.fullmatch(r"\d{1,2}(-\d{1,2})?", second):
        second = first[: len(first) - len(second)] + second
    stop = date_range(second)
    if start is None or stop is None or stop[1] < start[0]:
        return None, None
    return start[0], stop[1]


def is_iso_event_date(text: str) -> bool:
    """Whether the text is an ISO 8601 date or interval, as GBIF asks eventDate to be
    (the node reads other forms too, and validation still flags them)."""
    parts = text.strip().split("/")
    if len(parts) > 2 or not _ISO.match(parts[0]):
        return False
    if len(parts) == 2 and not (
        _ISO.match(parts[1]) or re.fullmatch(r"\d{1,2}(-\d{1,2})?", parts[1])
    ):
        return False
    return parse_event_date(text)[0] is not None


# Plain days (`2020-05-01`) are most of what collections write; they are read in Arrow.
_PLAIN_DAY = r"^(?:[1-9]\d{3}|0\d{2}[1-9]|0\d[1-9]\d|0[1-9]\d{2})-\d{2}-\d{2}$"


def plain_days(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """date32 for each value written exactly `YYYY-MM-DD` that names a real day, else null.

    What this reads, `parse_event_date` reads the same way; callers send only the nulls to
    it, so millions of rows cost no Python call each. A day that does not exist (Feb 30)
    is null here: Arrow's parser rolls it over, and comparing the parsed year, month and
    day with the written digits catches that (as integers: formatting the dates back to
    text cost ten times more than the rest of this function).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    text = values.cast(pa.string())
    plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN_DAY), False)
    candidates = pc.if_else(plain, text, pa.scalar(None, pa.string()))
    stamps = pc.strptime(candidates, format="%Y-%m-%d", unit="s", error_is_null=True)
    written = pc.cast(pc.replace_substring(candidates, "-", ""), pa.int64())
    parsed = pc.add(
        pc.add(pc.multiply(pc.year(stamps), 10_000), pc.multiply(pc.month(stamps), 100)),
        pc.day(stamps),
    )
    same = pc.fill_null(pc.equal(parsed, written), False)
    return pc.if_else(same, pc.cast(stamps, pa.date32()), pa.scalar(None, pa.date32()))
