"""Identifier columns kept out of Python memory, so uniqueness checks scale with disk."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from node.core import constants


class IdStore:
    """Identifier columns in a temporary DuckDB database: uniqueness and coreid lookups run
    as joins that spill to disk instead of Python sets that grow with the data."""

    def __enter__(self) -> IdStore:
        self._dir = Path(tempfile.mkdtemp(prefix="fednode-validate-"))
        # In memory, but bounded: beyond the limit DuckDB evicts blocks to temp_directory.
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"SET memory_limit = '{constants.VALIDATION_MEMORY_LIMIT}'")
        self.con.execute(f"SET temp_directory = '{self._dir / 'spill'}'")
        self.con.execute("SET preserve_insertion_order = false")
        # One thread: each thread pins its own partitions, and two of them outgrow the cap
        # on 20M ids where one spills.
        self.con.execute("SET threads = 1")
        self._tables: dict[str, str] = {}
        self._pending: dict[str, list[pa.Table]] = {}
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.con.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def add(self, name: str, values: pa.Array, lines: pa.Array, keep_empty: bool = False) -> None:
        if name not in self._tables:
            self._tables[name] = f"t{len(self._tables)}"
            self.con.execute(f"CREATE TABLE {self._tables[name]} (line BIGINT, value VARCHAR)")
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        batch = pa.table({"line": lines, "value": values.fill_null("")})
        if not keep_empty:
            batch = batch.filter(pc.not_equal(batch.column("value"), ""))
        pending = self._pending.setdefault(name, [])
        pending.append(batch)
        if sum(t.num_rows for t in pending) >= constants.VALIDATION_INSERT_ROWS:
            self._flush(name)

    def _flush(self, name: str) -> None:
        """One INSERT per many batches: each statement commits, and commits cost."""
        pending = self._pending.pop(name, [])
        if pending:
            batch = pa.concat_tables(pending)  # noqa: F841 (read by DuckDB by name)
            self.con.execute(f"INSERT INTO {self._tables[name]} SELECT line, value FROM batch")

    def duplicates(self, name: str, limit: int) -> tuple[int, list[tuple[str, int, list[int]]]]:
        """(records repeating an earlier value, first repeated values with count and lines)."""
        table = self._tables.get(name)
        if table is None:
            return 0, []
        self._flush(name)
        # Grouping 20M strings does not fit the cap even spilling; grouping their 64-bit
        # hashes does. The hashes only pick candidates (values sharing a hash): the counts
        # and lines below come from the values themselves, so a collision reports nothing.
        candidates = f"{table}_candidates"
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {candidates} AS
                SELECT h FROM (SELECT hash(value) AS h FROM {table})
                GROUP BY h HAVING count(*) > 1"""
        )
        if not self.con.execute(f"SELECT count(*) FROM {candidates}").fetchone()[0]:  # type: ignore[index]
            return 0, []  # no two values share a hash, so none repeats
        repeated = f"""SELECT value, count(*) AS n, min(line) AS first FROM {table}
                       WHERE hash(value) IN (SELECT h FROM {candidates})
                       GROUP BY value HAVING count(*) > 1"""
        (extra,) = self.con.execute(f"SELECT coalesce(sum(n - 1), 0) FROM ({repeated})").fetchone()  # type: ignore[misc]
        if not extra:
            return 0, []
        rows = self.con.execute(
            f"""WITH d AS ({repeated} ORDER BY first LIMIT {limit})
                SELECT d.value, d.n, list(t.line ORDER BY t.line)[1:5]
                FROM d JOIN {table} t USING (value)
                GROUP BY d.value, d.n, d.first ORDER BY d.first"""
        ).fetchall()
        return int(extra), [(v, int(n), list(lines)) for v, n, lines in rows]

    def orphans(self, name: str, target: str, limit: int) -> tuple[int, list[tuple[int, str]]]:
        """(rows of `name` whose value is not in `target`, the first of them)."""
        table = self._tables.get(name)
        if table is None:
            return 0, []
        self._flush(name)
        self._flush(target)
        core = self._tables.get(target)
        source = f"{table} r ANTI JOIN {core} c USING (value)" if core else f"{table} r"
        (count,) = self.con.execute(f"SELECT count(*) FROM {source}").fetchone()  # type: ignore[misc]
        rows = self.con.execute(
            f"SELECT r.line, r.value FROM {source} ORDER BY r.line LIMIT {limit}"
        ).fetchall()
        return int(count), [(int(line), value) for line, value in rows]
