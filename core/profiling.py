"""Reading tables in one streaming pass and profiling them with bounded memory.

Two pieces run at registration:

* :class:`CsvScanner` sees every block while the file is hashed and copied: it checks
  UTF-8, finds record boundaries (quote-aware), skips blank lines, counts delimiters (a
  cheap proof that no row is short) and keeps the byte offset of every ``INDEX_EVERY``-th
  row, which is the row index that lets a preview seek to any page.
* :func:`profile_table` parses the stored copy in chunks (pandas' C parser for CSV,
  pyarrow for Parquet) and feeds :class:`ColumnProfiler` accumulators.

Per column the profile holds: dtype, missing count and share, distinct count (exact up to
``DISTINCT_EXACT_CAP`` values, then a K-minimum-values estimate, about 1% error; the
``distinct_exact`` flag says which), and

* numbers: min, max, mean, std (merged per chunk, exact), 101 quantiles (from a uniform
  random sample of at most ``SAMPLE_SIZE`` values, seeded by the file size so the same
  bytes give the same profile; exact when the column has no more values than that), and a
  histogram whose bins double in width as the range grows, so its counts are exact;
* text and booleans: the most frequent values with counts (exact while the column has at
  most ``TOP_TRACK`` distinct values per chunk, else approximate: ``top_exact`` says).

This module imports numpy at the top; pandas and pyarrow only inside functions. It is
imported lazily by ``core.datasets``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import math
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dockyard.core.errors import InputError

PROFILE_FORMAT = 1
SAMPLE_SIZE = 50_000
DISTINCT_EXACT_CAP = 16_384
BITMAP_SPAN = 1 << 22
HIST_BINS = 64
TOP_KEEP = 20
TOP_TRACK = 10_000
TOP_PRUNE_AT = 50_000
QUANTILE_POINTS = 101
INDEX_EVERY = 1_000
SNIFF_BYTES = 1 << 20
MAX_COLUMNS = 20_000  # wider tables are refused up front (pandas' per-column cost)
CHUNK_TARGET_BYTES = 24 << 20
PARSE_AHEAD = True  # parse the next chunk in a thread while profiling this one
SMALL_CHUNK = 64  # text chunks up to this many values are counted without pandas
CATEGORY_MAX = 50  # a text column with at most this many distinct short values is a category
CATEGORY_LABEL_MAX = 40  # ...whose values are at most this long (longer ones read as text)
DATE_PROBE = 64  # values of a chunk tried as dates before the whole chunk is
# Strict ISO-8601 dates and datetimes (no offsets: as text they would not sort in time).
ISO_DATE = (
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?Z?)?"
)
_ISO_DATE_RE = re.compile(ISO_DATE)
YEAR_RANGE = (1800, 2100)
_YEAR_NAME = re.compile(r"year|(?:^|[^a-z])yr(?:$|[^a-z])", re.IGNORECASE)
_ID_NAME = re.compile(r"(?:^|[_\s.-])(?:id|Id|ID)$|^(?:id|Id|ID)(?:[_\s.-]|$)|[a-z](?:Id|ID)$")

FloatArray = npt.NDArray[np.float64]
UIntArray = npt.NDArray[np.uint64]

ChunkProgress = Callable[[int, int], None]
"""Called with (bytes parsed so far, rows so far) after each chunk."""


class TableError(InputError):
    """The file is not a readable table; the message names the file, the line and the fix."""


# --------------------------------------------------------------------------- CSV layout


@dataclass(frozen=True)
class CsvHeader:
    columns: list[str]
    avg_record_bytes: float


def _line_of(path: Path, offset: int) -> int:
    """1-based line number of byte ``offset`` (error messages only)."""
    line = 1
    done = 0
    with open(path, "rb") as f:
        while done < offset:
            block = f.read(min(1 << 20, offset - done))
            if not block:
                break
            line += block.count(b"\n")
            done += len(block)
    return line


def sniff_csv(path: Path, delimiter: str) -> CsvHeader:
    """Check the start of a CSV file and read its header.

    Refuses an empty file, binary data, non-UTF-8 bytes, a missing header, duplicate or
    blank-only column names. The full file is checked again while it is hashed.
    """
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        whole = len(head) < SNIFF_BYTES
    if not head.strip():
        raise TableError(f"{path} is empty; give a CSV file with a header row and data rows")
    if b"\0" in head:
        raise TableError(f"{path} holds binary data, not CSV text; export it as CSV (UTF-8) first")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(head, final=whole)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc.start, head[exc.start]) from None
    text = text.removeprefix("\ufeff")
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    header: list[str] | None = None
    lines = 0
    try:
        for row in records:
            if not row:
                continue
            lines += 1
            if header is None:
                header = row
            if lines > 50:
                break
    except csv.Error as exc:  # pragma: no cover - strict=False accepts almost anything
        raise TableError(f"{path} is not valid CSV: {exc}") from None
    if header is None:
        raise TableError(f"{path} is empty; give a CSV file with a header row and data rows")
    if not whole and lines <= 1:
        if len(header) > MAX_COLUMNS:  # the part of the header read already says so
            raise too_many_columns(path, len(header), at_least=True)
        raise TableError(
            f"{path}: the header row is longer than {SNIFF_BYTES >> 20} MB; is the delimiter right?"
        )
    if len(header) > MAX_COLUMNS:
        raise too_many_columns(path, len(header))
    columns = [name.strip() for name in header]
    seen: dict[str, int] = {}
    for i, name in enumerate(columns, start=1):
        if not name:
            if len(columns) == 1:
                raise TableError(
                    f"{path}: the header row is blank; the first row must name the columns"
                )
            columns[i - 1] = name = f"unnamed_{i}"
        if name in seen:
            raise TableError(
                f"{path}: column {name!r} appears twice in the header (columns {seen[name]} "
                f"and {i}); rename one of them"
            )
        seen[name] = i
    avg = len(head) / max(1, head.count(b"\n"))
    return CsvHeader(columns=columns, avg_record_bytes=avg)


def too_many_columns(path: Path, count: int, *, at_least: bool = False) -> TableError:
    """The one-line refusal of a table wider than ``MAX_COLUMNS``."""
    more = "more than " if at_least else ""
    return TableError(
        f"{path} has {more}{count:,} columns; Dockyard registers at most {MAX_COLUMNS:,} "
        "columns per dataset: split it into narrower files or keep the columns you need"
    )


def not_utf8(path: Path, offset: int, byte: int) -> TableError:
    line = _line_of(path, offset)
    return TableError(
        f"{path} is not UTF-8 text (byte 0x{byte:02x} on line {line}); "
        "re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
    )


class CsvScanner:
    """Fed every block of a CSV file in order (see ``core.hashing.stage_file``).

    Counts records (rows that are not blank; the first is the header), delimiters outside
    quotes, and keeps the start offset of every ``every``-th data row. Quotes follow
    RFC 4180 (a doubled quote counts twice, so parity says whether a byte is inside a
    quoted field). A quote in the middle of an unquoted field breaks that rule; then the
    counts disagree with the parser's and the index is dropped (see ``consistent``).
    """

    def __init__(self, path: Path, delimiter: str, every: int = INDEX_EVERY) -> None:
        self.path = path
        self.delim = ord(delimiter)
        self.every = every
        self.records = 0
        self.delimiters = 0
        self.consistent = True  # False: the counts cannot be trusted, keep no row index
        self.size = 0
        self._parity = 0
        self._line_start = 0
        self._last_byte = -1
        self._starts: list[npt.NDArray[np.int64]] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._tail = b""

    @property
    def data_rows(self) -> int:
        return max(0, self.records - 1)

    def feed(self, block: bytes, offset: int) -> None:
        self._check_utf8(block, offset)
        arr = np.frombuffer(block, dtype=np.uint8)
        newlines = np.flatnonzero(arr == 10)
        # memchr first: most blocks of most files hold no quote at all
        if self._parity or block.find(b'"') != -1:
            quotes = np.flatnonzero(arr == 34)
            if len(quotes):
                inside = (np.searchsorted(quotes, newlines) + self._parity) & 1
                newlines = newlines[inside == 0]
                delims = np.flatnonzero(arr == self.delim)
                outside = ((np.searchsorted(quotes, delims) + self._parity) & 1) == 0
                self.delimiters += int(np.count_nonzero(outside))
            elif self._parity:
                newlines = newlines[:0]  # the whole block is inside one quoted field
            else:
                self.delimiters += int(np.count_nonzero(arr == self.delim))
            self._parity = (self._parity + len(quotes)) & 1
        else:
            self.delimiters += int(np.count_nonzero(arr == self.delim))
        if len(newlines):
            ends = newlines.astype(np.int64) + offset
            starts = np.empty_like(ends)
            starts[0] = self._line_start
            starts[1:] = ends[:-1] + 1
            lengths = ends - starts
            blank = lengths == 0
            ones = np.flatnonzero(lengths == 1)
            if len(ones):
                before = ends[ones] - 1 - offset
                chars = np.where(before >= 0, arr[np.maximum(before, 0)], self._last_byte)
                blank[ones[chars == 13]] = True
            kept = starts[~blank]
            self._keep_starts(kept)
            self._line_start = int(ends[-1]) + 1
        self._last_byte = int(block[-1]) if block else self._last_byte
        self.size = offset + len(block)
        self._tail = block[max(0, self._line_start - offset) :] if block else self._tail

    def _keep_starts(self, starts: npt.NDArray[np.int64]) -> None:
        first = self.records  # record number of starts[0]; record 0 is the header
        self.records += len(starts)
        # data row r = record r + 1; keep rows 0, every, 2*every, ...
        rows = np.arange(first, first + len(starts)) - 1
        keep = (rows >= 0) & (rows % self.every == 0)
        if keep.any():
            self._starts.append(starts[keep])

    def finish(self) -> None:
        tail = self._tail if self._line_start < self.size else b""
        if tail.strip(b"\r"):
            self._keep_starts(np.array([self._line_start], dtype=np.int64))
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise not_utf8(self.path, max(0, self.size - 1), tail[-1] if tail else 0) from None

    def _check_utf8(self, block: bytes, offset: int) -> None:
        pending = self._decoder.getstate()[0]
        if not pending and block.isascii():
            return
        try:
            self._decoder.decode(block)
        except UnicodeDecodeError as exc:
            at = offset - len(pending) + exc.start
            bad = block[exc.start - len(pending)] if exc.start >= len(pending) else pending[0]
            raise not_utf8(self.path, at, bad) from None

    def short_rows_possible(self, n_columns: int) -> bool:
        """True unless the delimiter count proves every row has ``n_columns`` fields.

        The parser already refuses a row with too many fields; if the total is exactly
        ``(n_columns - 1) * records``, no row can then have too few.
        """
        return self.delimiters != (n_columns - 1) * self.records

    def row_index(self) -> npt.NDArray[np.int64]:
        if not self._starts:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(self._starts)


def find_ragged_row(path: Path, delimiter: str, n_columns: int) -> tuple[int, int] | None:
    """(line, fields) of the first row whose field count differs from the header's."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, strict=False)
        for row in reader:
            if not row:
                continue
            if len(row) != n_columns:
                return reader.line_num, len(row)
    return None


def ragged_error(path: Path, line: int, fields: int, n_columns: int) -> TableError:
    return TableError(
        f"{path}: line {line} has {fields} field{'s' if fields != 1 else ''} but the header "
        f"has {n_columns}; fix or remove that row (or quote values that contain the delimiter)"
    )


# ------------------------------------------------------------------------- accumulators


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(values: UIntArray) -> UIntArray:
    """A well-spread 64-bit hash of 64-bit keys (the splitmix64 finaliser), in place on a
    copy so that each step is one pass without temporaries."""
    z = values.copy()
    tmp = np.empty_like(z)
    np.right_shift(z, np.uint64(30), out=tmp)
    z ^= tmp
    z *= _M1
    np.right_shift(z, np.uint64(27), out=tmp)
    z ^= tmp
    z *= _M2
    np.right_shift(z, np.uint64(31), out=tmp)
    z ^= tmp
    return z


_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)


def hash_numbers(values: FloatArray) -> UIntArray:
    """Hashes of numbers by their float64 value: 3 and 3.0 are one value, as are 0 and -0.

    Multiplicative (Fibonacci) hashing plus one xor-shift: two passes instead of the
    seven of :func:`mix64`, which matters on every chunk of every numeric column.
    """
    z = (values + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0 (and copies)
    z *= _FIBONACCI
    z ^= z >> np.uint64(29)
    return z


_POLY = 0x100000001B3  # an odd multiplier: invertible modulo 2^64
_POLY_INVERSE = pow(_POLY, -1, 2**64)
_POLY_SPAN = 1 << 20  # bytes hashed per step; bounds the power tables (8 MB each)
_POWERS: dict[int, UIntArray] = {}


def _powers(base: int) -> UIntArray:
    table = _POWERS.get(base)
    if table is None:
        table = np.full(_POLY_SPAN + 1, base, dtype=np.uint64)
        table[0] = 1
        table = _POWERS[base] = np.cumprod(table, dtype=np.uint64)
    return table


def hash_strings(values: Any) -> UIntArray:
    """64-bit hashes of strings (a pandas Series or Index, or a list), vectorised.

    With pyarrow the strings' UTF-8 bytes are hashed in place from Arrow's buffers (a
    polynomial hash, made position-independent with the inverse powers, then mixed), so
    no Python string objects are made; without it pandas' ``hash_array`` is used.
    """
    if isinstance(values, list) and len(values) <= SMALL_CHUNK:
        small = _hash_few_strings(values)
        if small is not None:
            return small
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is installed with Dockyard
        import pandas as pd

        objects = np.asarray([str(v) for v in values], dtype=object)
        hashed: UIntArray = pd.util.hash_array(objects, categorize=False)
        return hashed
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        arr = pa.array([str(v) for v in values], type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    powers, inverse = _powers(_POLY), _powers(_POLY_INVERSE)
    out = np.zeros(n, dtype=np.uint64)
    sizes = np.diff(offsets)
    i = 0
    while i < n:
        # the strings i..j-1 whose bytes fit in one span (at least one string per step)
        j = int(np.searchsorted(offsets, offsets[i] + _POLY_SPAN, side="right")) - 1
        j = max(j, i + 1)
        lo, hi = int(offsets[i]), int(offsets[j])
        if hi - lo > _POLY_SPAN:  # one string longer than a span
            out[i] = np.uint64(hash(bytes(data[lo:hi])) & (2**64 - 1))
        elif hi > lo:
            # sum of byte * P^(position in the span) per string, then * P^-start
            weighted = data[lo:hi].astype(np.uint64)
            weighted *= powers[: hi - lo]
            starts = offsets[i:j] - lo
            filled = sizes[i:j] > 0  # reduceat cannot express an empty segment
            sums = np.add.reduceat(weighted, starts[filled])
            part = np.zeros(j - i, dtype=np.uint64)
            part[filled] = sums * inverse[starts[filled]]
            out[i:j] = part
        i = j
    return mix64(out ^ (sizes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))


_MASK = 2**64 - 1


def _hash_few_strings(values: list[Any]) -> UIntArray | None:
    """:func:`hash_strings` of a few short strings in plain Python (None: not applicable).

    The same numbers as the vectorised path (the polynomial of the UTF-8 bytes, the length,
    then :func:`mix64`), without its fixed cost of building an Arrow array, which
    dominated wide files: one call per text column per chunk.
    """
    out = []
    m1, m2, fib = int(_M1), int(_M2), int(_FIBONACCI)
    for value in values:
        if not isinstance(value, str):
            return None
        data = value.encode("utf-8")
        if len(data) > 4096:
            return None
        h = 0
        for byte in reversed(data):
            h = (h * _POLY + byte) & _MASK
        z = h ^ ((len(data) * fib) & _MASK)
        z ^= z >> 30
        z = (z * m1) & _MASK
        z ^= z >> 27
        z = (z * m2) & _MASK
        z ^= z >> 31
        out.append(z)
    return np.array(out, dtype=np.uint64)


class DistinctCounter:
    """Distinct values: exact up to ``cap``, then a K-minimum-values estimate.

    It keeps the ``cap`` smallest distinct 64-bit hashes. While fewer were ever seen the
    count is exact (up to 64-bit hash collisions); after, ``(cap - 1) / (h_max / 2^64)``
    estimates it with a relative standard error of about ``1 / sqrt(cap)`` (0.8%).
    """

    def __init__(self, cap: int = DISTINCT_EXACT_CAP) -> None:
        self.cap = cap
        self.hashes: UIntArray = np.zeros(0, dtype=np.uint64)
        self.saturated = False
        self.limit = np.uint64(0)

    def add(self, hashes: UIntArray) -> None:
        import pandas as pd

        if self.saturated:
            hashes = hashes[hashes < self.limit]
            if not len(hashes):
                return
        if not self.saturated and len(hashes) > 4 * self.cap:
            # Only the cap smallest distinct hashes can stay. The 2*cap smallest values
            # hold them unless duplicates crowd them out, which the count below tells.
            smallest = np.partition(hashes, 2 * self.cap)[: 2 * self.cap + 1]
            fresh = np.asarray(pd.unique(smallest), dtype=np.uint64)
            if len(fresh) < self.cap:
                fresh = np.asarray(pd.unique(hashes), dtype=np.uint64)
        elif len(hashes) <= SMALL_CHUNK:
            fresh = np.unique(hashes)  # a few values: sorting beats pandas' fixed cost
        else:
            # pandas' hash-table unique is linear; numpy's sorts
            fresh = np.asarray(pd.unique(hashes), dtype=np.uint64)
        kept = self.hashes  # sorted
        if len(kept):
            at = np.searchsorted(kept, fresh)
            at[at == len(kept)] = 0
            fresh = fresh[kept[at] != fresh]
            if not len(fresh):
                return
        if len(fresh) > self.cap:  # only the cap smallest can stay
            fresh = np.partition(fresh, self.cap - 1)[: self.cap]
            self.saturated = True
        fresh.sort()
        merged = np.concatenate([kept, fresh])
        merged.sort(kind="stable")  # two sorted runs: a linear merge
        if self.saturated or len(merged) > self.cap:
            merged = merged[: self.cap]
            self.saturated = True
            self.limit = merged[-1]
        self.hashes = merged

    def result(self) -> tuple[int, bool]:
        if not self.saturated:
            return len(self.hashes), True
        fraction = float(self.limit) / 2.0**64
        return round((self.cap - 1) / fraction), False


class BottomKSample:
    """A uniform random sample of at most ``k`` values: each value draws a random key and
    the ``k`` smallest keys win. Memory stays below ``2k`` values."""

    def __init__(self, rng: np.random.Generator, k: int = SAMPLE_SIZE) -> None:
        self.rng = rng
        self.k = k
        self.threshold = 1.0
        self.keys: list[FloatArray] = []
        self.values: list[FloatArray] = []
        self.held = 0
        self.seen = 0

    def add(self, values: FloatArray) -> None:
        self.seen += len(values)
        keys = self.rng.random(len(values))
        if self.threshold < 1.0:
            chosen = keys < self.threshold
            keys, values = keys[chosen], values[chosen]
        self.keys.append(keys)
        self.values.append(values)
        self.held += len(keys)
        if self.held > 2 * self.k:
            self._compact()

    def _compact(self) -> None:
        keys = np.concatenate(self.keys)
        values = np.concatenate(self.values)
        if len(keys) > self.k:
            part = np.argpartition(keys, self.k)
            keep = part[: self.k]
            self.threshold = float(keys[part[self.k]])
            keys, values = keys[keep], values[keep]
        self.keys, self.values, self.held = [keys], [values], len(keys)

    def sample(self) -> FloatArray:
        self._compact()
        return self.values[0] if self.values else np.zeros(0)

    @property
    def exact(self) -> bool:
        return self.seen <= self.k


class RowSample:
    """One uniform random sample of at most ``k`` rows shared by all numeric columns.

    Each row draws a random key and the ``k`` smallest keys win (bottom-k), so one
    draw and one partition per chunk serve every column. A column's missing values stay
    in the sample as NaN and are dropped when its quantiles are read, which leaves a
    uniform sample of its present values.

    Every step costs at most one pass over the columns per chunk (and :meth:`finish` one
    pass at the end), so the work grows with the cells, not with the square of the
    columns: a one-row file of 100,000 columns must not compact 100,000 times.
    """

    def __init__(self, rng: np.random.Generator, k: int = SAMPLE_SIZE) -> None:
        self.rng = rng
        self.k = k
        self.threshold = 1.0
        self.seen = 0
        self.keys: list[FloatArray] = []
        self.columns: dict[str, list[FloatArray]] = {}
        self.lengths: dict[str, int] = {}  # rows each column holds, to pad without sums
        self.held = 0
        self.rows: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.finished = False

    def start_chunk(self, n: int) -> None:
        """Draw keys for the next ``n`` rows; :meth:`add` then takes the chosen ones."""
        self._pad()
        self.seen += n
        keys = self.rng.random(n)
        if self.threshold < 1.0:
            self.rows = np.flatnonzero(keys < self.threshold)
            keys = keys[self.rows]
        else:
            self.rows = np.arange(n)
        self.keys.append(keys)
        self.held += len(keys)

    def add(self, name: str, values: FloatArray) -> None:
        """The chunk's values of column ``name`` (full length, NaN for missing)."""
        parts = self.columns.get(name)
        if parts is None:
            before = self.held - len(self.rows)
            parts = self.columns[name] = [np.full(before, np.nan)] if before else []
            self.lengths[name] = before
        parts.append(values[self.rows])
        self.lengths[name] += len(self.rows)

    def end_chunk(self) -> None:
        self._pad()
        if self.held > 2 * self.k:
            self._compact()

    def finish(self) -> None:
        """Pad and compact once after the last chunk; :meth:`values` then only reads."""
        if not self.finished:
            self._pad()
            self._compact()
            self.finished = True

    def _pad(self) -> None:
        """Columns without values in this chunk (all missing) get NaN rows."""
        held = self.held
        lengths = self.lengths
        for name, have in lengths.items():
            if have < held:
                self.columns[name].append(np.full(held - have, np.nan))
                lengths[name] = held

    def _compact(self) -> None:
        keys = np.concatenate(self.keys) if self.keys else np.zeros(0)
        keep: npt.NDArray[np.int64] | None = None
        if len(keys) > self.k:
            part = np.argpartition(keys, self.k)
            keep = part[: self.k]
            self.threshold = float(keys[part[self.k]])
            keys = keys[keep]
        self.keys = [keys]
        for name, parts in self.columns.items():
            joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
            self.columns[name] = [joined[keep] if keep is not None else joined]
            self.lengths[name] = len(keys)
        self.held = len(keys)

    def values(self, name: str) -> FloatArray:
        """The sampled present, finite values of column ``name``, sorted."""
        self.finish()
        parts = self.columns.get(name)
        if not parts:
            return np.zeros(0)
        joined = parts[0]
        return np.sort(joined[np.isfinite(joined)])

    @property
    def exact(self) -> bool:
        return self.seen <= self.k


class NumberDistinct:
    """Distinct numbers: exact with a bitmap while they are whole numbers within a window
    of ``BITMAP_SPAN`` (counts, codes, years, ids of modest range: no cap at all), else
    the hash-based :class:`DistinctCounter`."""

    def __init__(self) -> None:
        self.base = 0
        self.bits: npt.NDArray[np.bool_] | None = None
        self.bitmap = True
        self.hashed = DistinctCounter()

    def add(self, values: FloatArray, low: float, high: float, integral: bool) -> None:
        if self.bitmap and (integral or bool(np.array_equal(values, np.trunc(values)))):
            base = int(low) if self.bits is None else min(self.base, int(low))
            top = int(high) if self.bits is None else max(self.base + len(self.bits) - 1, int(high))
            if top - base < BITMAP_SPAN:
                if self.bits is None or base < self.base or top >= self.base + len(self.bits):
                    bits = np.zeros(top - base + 1, dtype=np.bool_)
                    if self.bits is not None:
                        bits[self.base - base : self.base - base + len(self.bits)] = self.bits
                    self.bits, self.base = bits, base
                self.bits[(values - self.base).astype(np.int64)] = True
                return
        if self.bitmap:
            self.bitmap = False
            if self.bits is not None:
                present = (np.flatnonzero(self.bits) + self.base).astype(np.float64)
                self.hashed.add(hash_numbers(present))
                self.bits = None
        self.hashed.add(hash_numbers(values))

    def result(self) -> tuple[int, bool]:
        if self.bitmap:
            return (int(np.count_nonzero(self.bits)) if self.bits is not None else 0), True
        return self.hashed.result()


class Histogram:
    """Fixed number of bins over a range that doubles when values fall outside it.

    Counts stay exact: doubling merges neighbouring bins. For integer columns the edges
    sit on half-integers, so each bin holds whole values.
    """

    def __init__(self, bins: int = HIST_BINS) -> None:
        self.bins = bins
        self.lo = 0.0
        self.width = 0.0
        self.counts = np.zeros(bins, dtype=np.int64)

    def add(self, values: FloatArray, low: float, high: float, integral: bool) -> None:
        if self.width == 0.0:
            self._start(low, high, integral)
        while low < self.lo:
            pairs = self.counts.reshape(-1, 2).sum(axis=1)
            self.counts = np.concatenate([np.zeros(len(pairs), dtype=np.int64), pairs])
            self.lo -= self.width * self.bins
            self.width *= 2
        while high >= self.lo + self.width * self.bins:
            pairs = self.counts.reshape(-1, 2).sum(axis=1)
            self.counts = np.concatenate([pairs, np.zeros(len(pairs), dtype=np.int64)])
            self.width *= 2
        idx = ((values - self.lo) / self.width).astype(np.int64)
        np.clip(idx, 0, self.bins - 1, out=idx)
        self.counts += np.bincount(idx, minlength=self.bins)

    def _start(self, low: float, high: float, integral: bool) -> None:
        if integral:
            self.width = float(max(1, math.ceil((high - low + 1) / self.bins)))
            self.lo = low - 0.5
            return
        span = high - low
        if span <= 0 or not math.isfinite(span):
            self.width = max(abs(low), 1.0) / self.bins
            self.lo = low - self.width * self.bins / 2
            return
        self.width = span / self.bins * (1 + 1e-9)
        self.lo = low

    def result(self) -> dict[str, list[float] | list[int]]:
        nonzero = np.flatnonzero(self.counts)
        if not len(nonzero):
            return {"edges": [], "counts": []}
        first, last = int(nonzero[0]), int(nonzero[-1]) + 1
        edges = self.lo + self.width * np.arange(first, last + 1)
        return {
            "edges": [float(e) for e in edges],
            "counts": [int(c) for c in self.counts[first:last]],
        }


class NumericStats:
    def __init__(self, name: str, sample: RowSample) -> None:
        self.name = name
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.infinite: set[float] = set()
        self.n_infinite = 0
        self.histogram = Histogram()
        self.sample = sample
        self.distinct = NumberDistinct()
        self.increasing = True  # every value above the one before: an id, if also integral

    def add(self, values: FloatArray, integral: bool) -> None:
        """Present (not NaN) values of one chunk."""
        if self.increasing and len(values):
            self.increasing = bool(values[0] > self.high) if self.count else True
            self.increasing = self.increasing and bool(np.all(values[1:] > values[:-1]))
        finite = np.isfinite(values)
        if not finite.all():
            odd = values[~finite]
            self.n_infinite += len(odd)
            self.infinite.update(float(v) for v in np.unique(odd))
            values = values[finite]
        if not len(values):
            return
        n = len(values)
        low, high = float(values.min()), float(values.max())
        mean = float(values.mean())
        centred = values - mean
        centred *= centred  # not a BLAS dot: OpenBLAS threads spin and steal the CPU
        m2 = float(centred.sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.low, self.high = min(self.low, low), max(self.high, high)
        self.histogram.add(values, low, high, integral and self.histogram.width == 0.0)
        self.distinct.add(values, low, high, integral)

    def result(self) -> dict[str, Any]:
        distinct, exact = self.distinct.result()
        out: dict[str, Any] = {
            "distinct": distinct + len(self.infinite),
            "distinct_exact": exact,
        }
        if self.n_infinite:
            out["infinite"] = self.n_infinite
        if not self.count:
            return out
        sampled = self.sample.values(self.name)
        if not len(sampled):  # pragma: no cover - the sample holds every present value
            sampled = np.array([self.low, self.high])
        quantiles = sorted_quantiles(sampled, QUANTILE_POINTS)
        quantiles[0], quantiles[-1] = self.low, self.high
        std = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0
        out.update(
            min=_num(self.low),
            max=_num(self.high),
            mean=self.mean,
            std=std,
            quantiles=_nums(quantiles),
            quantiles_exact=self.sample.exact,
            histogram=self.histogram.result(),
        )
        return out


def sorted_quantiles(values: FloatArray, points: int) -> FloatArray:
    """Quantiles at ``points`` evenly spaced probabilities of sorted ``values`` (linear
    interpolation, as numpy's default)."""
    low, high, frac = _quantile_positions(len(values), points)
    out: FloatArray = values[low] + (values[high] - values[low]) * frac
    return out


@functools.lru_cache(maxsize=64)
def _quantile_positions(
    n: int, points: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    """Where the quantiles of ``n`` sorted values fall: the same for every column of a
    table without missing values, so computed once per table, not once per column."""
    position = np.linspace(0, 1, points) * (n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    frac = position - low
    for shared in (low, high, frac):
        shared.flags.writeable = False  # cached: shared by every caller
    return low, high, frac


def _num(value: float) -> float | int:
    """Whole numbers as int in JSON (``3`` not ``3.0``) so integer columns read naturally."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _nums(values: FloatArray) -> list[float | int]:
    """:func:`_num` of each value, vectorised: called once per numeric column with its
    101 quantiles, a Python loop over them was a fifth of a wide file's registration."""
    whole = np.isfinite(values) & (values == np.trunc(values)) & (np.abs(values) < 2**53)
    if whole.all():
        as_ints: list[float | int] = values.astype(np.int64).tolist()
        return as_ints
    out: list[float | int] = values.tolist()
    for i in np.flatnonzero(whole).tolist():
        out[i] = int(out[i])
    return out


class CategoryStats:
    """Counts of text (or boolean) values.

    Exact while each chunk holds at most ``TOP_TRACK`` distinct values. A column whose
    chunks are mostly unique values (ids, free text) stops counting values: its top list
    is left empty (``top_skipped``) and only its distinct count goes on, from hashes.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.exact = True
        self.skipped = False
        self.distinct = DistinctCounter()

    def add(self, values: Any) -> None:
        """``values``: a pandas Series without missing values."""
        if not self.skipped and not self.counts and len(values) > 4 * TOP_TRACK:
            # an id column shows itself in its first rows: do not count 100k values once
            self.skipped = values.iloc[:2000].nunique() > 1900
            self.exact = not self.skipped
        if self.skipped:
            self.distinct.add(hash_strings(values))
            return
        if len(values) <= SMALL_CHUNK:
            # A chunk of a few rows (a wide file): pandas' value_counts costs ~100 us
            # whatever the length, a Counter a microsecond; the same labels and counts.
            self._merge(Counter(str(v) for v in values.tolist()))
            return
        counts = values.value_counts(sort=False)
        if counts.index.dtype.kind == "b":
            self.distinct.add(hash_strings([str(v) for v in counts.index.tolist()]))
        else:
            self.distinct.add(hash_strings(counts.index))
        if len(counts) > TOP_TRACK and len(counts) > 0.5 * len(values):
            self.skipped, self.exact, self.counts = True, False, {}
            return
        if len(counts) > TOP_TRACK:
            self.exact = False
            counts = counts.nlargest(TOP_TRACK)
        labels = [str(v) for v in counts.index.tolist()]
        numbers = counts.to_numpy().tolist()
        merged = self.counts
        for label, number in zip(labels, numbers, strict=True):
            merged[label] = merged.get(label, 0) + number
        self._prune()

    def _merge(self, counts: Counter[str]) -> None:
        """Counts of a small chunk (at most ``SMALL_CHUNK`` values: below ``TOP_TRACK``)."""
        self.distinct.add(hash_strings(list(counts)))
        merged = self.counts
        for label, number in counts.items():
            merged[label] = merged.get(label, 0) + number
        self._prune()

    def _prune(self) -> None:
        merged = self.counts
        if len(merged) > TOP_PRUNE_AT:
            self.exact = False
            kept = sorted(merged.items(), key=lambda kv: -kv[1])[: TOP_PRUNE_AT // 2]
            self.counts = dict(kept)

    def result(self, non_missing: int) -> dict[str, Any]:
        distinct, exact = self.distinct.result()
        top = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_KEEP]
        out: dict[str, Any] = {
            "distinct": distinct,
            "distinct_exact": exact,
            "top": [[label, count] for label, count in top],
            "top_exact": self.exact,
            "other": non_missing - sum(count for _, count in top),
        }
        if self.skipped:
            out["top_skipped"] = True
        return out


class Retype(Exception):
    """A column's kind changed between chunks; read it again as text."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _as_floats(series: Any) -> FloatArray:
    """A numeric column chunk as float64 with NaN for missing (no copy for float64)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
        out: FloatArray = series.to_numpy().astype(np.float64, copy=False)
        return out
    converted: FloatArray = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return converted


def kind_and_label(dtype: Any, cache: dict[Any, tuple[str, str]]) -> tuple[str, str]:
    """(kind, dtype label) of a pandas dtype, remembered in ``cache``: a chunk of a wide
    file has thousands of columns of a handful of dtypes, and each check costs
    microseconds."""
    try:
        return cache[dtype]
    except KeyError:
        found = cache[dtype] = (_kind_of(dtype), _dtype_label(dtype))
        return found
    except TypeError:  # pragma: no cover - an unhashable extension dtype
        return _kind_of(dtype), _dtype_label(dtype)


def _kind_of(dtype: Any) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


def _dtype_label(dtype: Any) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int64"
    if pd.api.types.is_float_dtype(dtype):
        return "float64"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


@dataclass
class ColumnProfiler:
    """Everything known about one column so far."""

    name: str
    sample: RowSample
    label: str = ""
    source_type: str = ""
    kind: str = ""
    rows: int = 0
    missing: int = 0
    numeric: NumericStats | None = None
    category: CategoryStats | None = None
    time_low: Any = None
    time_high: Any = None
    time_distinct: DistinctCounter = field(default_factory=DistinctCounter)
    dates: bool | None = None  # a text column whose every value is an ISO date so far
    date_low: str = ""
    date_high: str = ""

    def add(self, series: Any, kind: str = "", label: str = "") -> None:
        """One chunk of the column; ``kind`` and ``label`` as :func:`kind_and_label` gives
        them for its dtype (computed here if not given)."""
        n = len(series)
        self.rows += n
        if not kind:
            kind, label = _kind_of(series.dtype), _dtype_label(series.dtype)
        array: FloatArray | None = None
        if kind == "numeric":
            array = _as_floats(series)
            mask = np.isnan(array)
        else:
            mask = series.isna().to_numpy()
        n_missing = int(np.count_nonzero(mask))
        self.missing += n_missing
        if n_missing == n:
            return  # an all-missing chunk says nothing about the kind
        if self.kind and kind != self.kind:
            raise Retype(self.name)
        if {label, self.label} == {"int64", "float64"}:
            label = "float64"
        self.kind, self.label = kind, label
        if array is not None:
            if self.numeric is None:
                self.numeric = NumericStats(self.name, self.sample)
            self.sample.add(self.name, array)
            self.numeric.add(array[~mask] if n_missing else array, label == "int64")
            return
        values = series[~mask] if n_missing else series
        if kind == "datetime":
            low, high = values.min(), values.max()
            self.time_low = low if self.time_low is None else min(self.time_low, low)
            self.time_high = high if self.time_high is None else max(self.time_high, high)
            self.time_distinct.add(hash_strings([str(v) for v in values.unique()]))
        else:
            if self.category is None:
                self.category = CategoryStats()
            self.category.add(values)
            if kind == "text" and self.dates is not False:
                self._check_dates(values)

    def _check_dates(self, values: Any) -> None:
        """Keep the range of a column of ISO dates as text (ISO strings sort in time).

        A few values are tried first, so a column of other text costs one short probe."""
        if len(values) <= DATE_PROBE:
            # a wide file's few-row chunk: pandas' str methods cost ~100 us a column
            few = values.tolist()
            if not all(isinstance(v, str) and _ISO_DATE_RE.fullmatch(v) for v in few):
                self.dates = False
                return
            low, high = min(few), max(few)
        else:
            try:
                for probe in (values.iloc[:DATE_PROBE], values):
                    matched = probe.str.fullmatch(ISO_DATE)
                    if not matched.fillna(False).astype(bool).all():
                        self.dates = False
                        return
            except (AttributeError, TypeError):  # not strings (objects of a Parquet column)
                self.dates = False
                return
            low, high = str(values.min()), str(values.max())
        self.dates = True
        self.date_low = min(self.date_low, low) if self.date_low else low
        self.date_high = max(self.date_high, high)

    def result(self) -> dict[str, Any]:
        present = self.rows - self.missing
        out: dict[str, Any] = {
            "name": self.name,
            "dtype": self.label or "string",
            "kind": self.kind or "empty",
            "count": present,
            "missing": self.missing,
            "missing_share": self.missing / self.rows if self.rows else 0.0,
        }
        if self.source_type:
            out["source_type"] = self.source_type
        if self.kind == "numeric" and self.numeric is not None:
            out.update(self.numeric.result())
            role = self._number_role(out)
            if role:
                out["semantic"] = role
        elif self.kind == "datetime":
            distinct, exact = self.time_distinct.result()
            out.update(
                distinct=distinct,
                distinct_exact=exact,
                min=_iso(self.time_low),
                max=_iso(self.time_high),
            )
        elif self.category is not None:
            out.update(self.category.result(present))
            if self.kind == "text":
                out["semantic"] = self._text_role(out)
                if out["semantic"] == "date":
                    out.update(min=self.date_low, max=self.date_high)
        else:
            out.update(distinct=0, distinct_exact=True)
        if out["distinct"] == 1 and not self.missing and out.get("distinct_exact", True):
            out["constant"] = True
        return out

    def _text_role(self, out: dict[str, Any]) -> str:
        """``date``, ``category`` (few distinct short values, each seen a few times) or
        ``text``."""
        if self.dates:
            return "date"
        distinct, top = out["distinct"], out.get("top") or []
        few = distinct <= CATEGORY_MAX and 2 * distinct <= out["count"]
        short = all(len(label) <= CATEGORY_LABEL_MAX for label, _ in top)
        return "category" if few and short and not out.get("top_skipped") else "text"

    def _number_role(self, out: dict[str, Any]) -> str:
        """``year`` or ``id`` for an integer column that looks like one (by its name, or
        its values: all in 1800..2100, or unique and increasing), else empty."""
        if self.label != "int64" or self.numeric is None or "min" not in out:
            return ""
        if _YEAR_NAME.search(self.name) or (
            YEAR_RANGE[0] <= out["min"] and out["max"] <= YEAR_RANGE[1]
        ):
            return "year"
        unique = out["distinct_exact"] and out["distinct"] == out["count"] > 1
        if _ID_NAME.search(self.name) or (unique and self.numeric.increasing):
            return "id"
        return ""


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


# ------------------------------------------------------------------------------ readers


def rows_per_chunk(avg_record_bytes: float, n_columns: int) -> int:
    by_bytes = CHUNK_TARGET_BYTES / max(avg_record_bytes, 8.0 * n_columns, 1.0)
    return int(min(200_000, max(1_000, by_bytes)))


def iter_csv_chunks(
    path: Path,
    delimiter: str,
    chunk_rows: int,
    as_text: set[str],
    progress: Callable[[int], None] | None = None,
) -> Iterator[Any]:
    """pandas DataFrames of ``chunk_rows`` rows; ``as_text`` columns are read as strings."""
    import pandas as pd

    with open(path, "rb") as f:
        reader = pd.read_csv(
            f,
            sep=delimiter,
            chunksize=chunk_rows,
            dtype=dict.fromkeys(as_text, str) or None,
            encoding="utf-8",
            engine="c",
            skip_blank_lines=True,
        )
        with reader:
            while True:
                try:
                    chunk = next(reader)
                except StopIteration:
                    return
                except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
                    raise CsvParseError(str(exc).strip().splitlines()[-1]) from None
                if progress is not None:
                    progress(f.tell())
                yield chunk


class CsvParseError(Exception):
    """pandas refused the text; the caller turns this into a message with a line number."""


def parquet_schema(path: Path) -> list[tuple[str, str]]:
    """(name, Arrow type) of each column of a Parquet file."""
    pq = import_parquet(path)
    try:
        schema = pq.ParquetFile(path).schema_arrow
    except Exception as exc:
        raise TableError(f"{path} is not a readable Parquet file: {_first_line(exc)}") from None
    return [(f.name, str(f.type)) for f in schema]


def import_parquet(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise TableError(
            f"{path}: reading Parquet needs pyarrow, which is not installed; "
            "run `pip install pyarrow` or convert the file to CSV"
        ) from None
    return pq


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def iter_parquet_chunks(
    path: Path, chunk_rows: int, progress: Callable[[int], None] | None = None
) -> Iterator[Any]:
    pq = import_parquet(path)
    try:
        parquet = pq.ParquetFile(path)
        total_rows = max(1, parquet.metadata.num_rows)
        size = path.stat().st_size
        done = 0
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            done += batch.num_rows
            if progress is not None:
                progress(int(size * done / total_rows))
            yield batch.to_pandas()
    except TableError:
        raise
    except Exception as exc:
        raise TableError(f"{path} is not a readable Parquet file: {_first_line(exc)}") from None


# ----------------------------------------------------------------------------- profiling


@dataclass(frozen=True)
class TableSource:
    """One file of a table, as stored: where it is and how to read it."""

    path: Path
    display: str  # the user's name for it, for error messages
    file_format: str  # csv | tsv | parquet
    columns: list[str]
    chunk_rows: int
    source_types: dict[str, str] = field(default_factory=dict)

    @property
    def delimiter(self) -> str:
        return "\t" if self.file_format == "tsv" else ","


@dataclass(frozen=True)
class TableProfile:
    rows: int
    columns: list[dict[str, Any]]
    rows_per_file: list[int]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "rows": self.rows,
            "cols": len(self.columns),
            "sample_size": SAMPLE_SIZE,
            "distinct_exact_cap": DISTINCT_EXACT_CAP,
            "columns": self.columns,
        }


def profile_table(
    sources: Sequence[TableSource],
    seed: int,
    progress: ChunkProgress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> TableProfile:
    """Profile the concatenation of ``sources`` (same columns) in one streaming pass.

    If a column turns out to hold text after starting as numbers (or the other way), the
    pass starts again with that column read as text; this happens at most once per column.
    """
    as_text: set[str] = set()
    while True:
        try:
            return _profile_pass(sources, seed, as_text, progress, cancel)
        except Retype as retype:
            as_text.add(retype.column)


def _profile_pass(
    sources: Sequence[TableSource],
    seed: int,
    as_text: set[str],
    progress: ChunkProgress | None,
    cancel: Callable[[], bool] | None,
) -> TableProfile:
    from dockyard.core.hashing import HashingCancelled

    sample = RowSample(np.random.default_rng(seed))
    columns = sources[0].columns
    profilers = [ColumnProfiler(name, sample) for name in columns]
    for profiler in profilers:
        profiler.source_type = sources[0].source_types.get(profiler.name, "")
    rows_per_file = [0] * len(sources)
    bytes_before = [0]
    for source in sources[:-1]:
        bytes_before.append(bytes_before[-1] + source.path.stat().st_size)
    reader = _ChunkReader(sources, as_text)
    if PARSE_AHEAD:
        reader.start()
    try:
        while True:
            item = reader.next_chunk()
            if item is None:
                break
            index, chunk, position = item
            if cancel is not None and cancel():
                raise HashingCancelled("registration was cancelled; nothing was stored")
            if list(chunk.columns) != columns:
                raise TableError(
                    f"{sources[index].display} has columns "
                    f"{', '.join(map(str, chunk.columns))}; "
                    f"expected {', '.join(columns)} like the first file"
                )
            sample.start_chunk(len(chunk))
            # by position, with each dtype classified once: per-column lookups by name and
            # dtype checks made wide files (thousands of columns) slow
            kinds: dict[Any, tuple[str, str]] = {}
            for profiler, (_, series) in zip(profilers, chunk.items(), strict=True):
                profiler.add(series, *kind_and_label(series.dtype, kinds))
            sample.end_chunk()
            rows_per_file[index] += len(chunk)
            if progress is not None:
                progress(bytes_before[index] + position, sum(rows_per_file))
    finally:
        reader.stop()
    return TableProfile(
        rows=sum(rows_per_file),
        columns=[p.result() for p in profilers],
        rows_per_file=rows_per_file,
    )


class _ChunkReader(threading.Thread):
    """Parses the next chunks in a thread while the caller profiles the current one.

    pandas' tokenizer and number conversion release the GIL, and so do most numpy
    operations of the profile, so the two overlap on a second core. At most ``depth``
    parsed chunks wait in the queue, which bounds the memory.
    """

    def __init__(self, sources: Sequence[TableSource], as_text: set[str], depth: int = 2) -> None:
        super().__init__(name="dockyard-parse", daemon=True)
        self.sources = sources
        self.as_text = as_text
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.position = 0
        self._inline: Generator[tuple[str, Any], None, None] | None = None

    def _at(self, position: int) -> None:
        self.position = position

    def _produce(self) -> Generator[tuple[str, Any], None, None]:
        for index, source in enumerate(self.sources):
            self.position = 0
            if source.file_format == "parquet":
                chunks: Iterable[Any] = iter_parquet_chunks(
                    source.path, source.chunk_rows, self._at
                )
            else:
                chunks = _csv_chunks_checked(source, self.as_text, self._at)
            for chunk in chunks:
                yield "chunk", (index, chunk, self.position)

    def run(self) -> None:
        try:
            for item in self._produce():
                if not self._put(item):
                    return
            self._put(("end", None))
        except BaseException as exc:  # handed to the profiling thread
            self._put(("error", exc))

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def next_chunk(self) -> tuple[int, Any, int] | None:
        kind: str
        payload: Any
        if not PARSE_AHEAD:
            if self._inline is None:
                self._inline = self._produce()
            kind, payload = next(self._inline, ("end", None))
        else:
            kind, payload = self.queue.get()
        if kind == "error":
            assert isinstance(payload, BaseException)
            raise payload
        if kind == "end":
            return None
        index, chunk, position = payload
        return int(index), chunk, int(position)

    def stop(self) -> None:
        self.stopping.set()
        if self._inline is not None:
            self._inline.close()
        while self.is_alive():
            with contextlib.suppress(queue.Empty):
                self.queue.get(timeout=0.05)
        if self.ident is not None:
            self.join()


def _csv_chunks_checked(
    source: TableSource, as_text: set[str], report: Callable[[int], None]
) -> Iterator[Any]:
    try:
        yield from iter_csv_chunks(
            source.path, source.delimiter, source.chunk_rows, as_text, report
        )
    except CsvParseError as exc:
        found = find_ragged_row(source.path, source.delimiter, len(source.columns))
        if found is not None:
            raise ragged_error(Path(source.display), *found, len(source.columns)) from None
        raise TableError(f"{source.display} is not valid CSV: {exc}") from None
