"""Readers and writers for ledger tables (CSV, Parquet, Excel, SQL) and column mappings."""

from __future__ import annotations

import difflib
import logging
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from arforecast.exceptions import ConfigError, DataError
from arforecast.schema import (
    NEGATIVE_INVOICE_POLICIES,
    TABLES,
    Finding,
    Severity,
    parse_amounts,
    parse_dates,
    validate_tables,
)

if TYPE_CHECKING:
    from arforecast.ledger import Ledger

__all__ = [
    "DERIVE_KEYS",
    "MAPPING_KEYS",
    "PROFILE_DIR",
    "TABLE_KEYS",
    "WRITE_FORMATS",
    "LedgerMapping",
    "list_profiles",
    "load_ledger",
    "load_mapping",
    "parse_amounts",
    "parse_dates",
    "read_tables",
    "write_tables",
]

logger = logging.getLogger(__name__)

#: Folder of the mapping profiles shipped with the package.
PROFILE_DIR = Path(__file__).resolve().parent / "profiles"

#: Options valid at the top level of a mapping and inside each table.
_SHARED_KEYS = (
    "date_format",
    "decimal",
    "thousands",
    "currency_symbols",
    "portfolio_from",
)
#: Keys valid at the top level of a mapping (besides the table names).
MAPPING_KEYS = ("name", "description", "negative_invoices", "derive", *_SHARED_KEYS)
#: Keys valid inside one table of a mapping.
TABLE_KEYS = (
    "source",
    "sheet",
    "query",
    "sep",
    "encoding",
    "columns",
    "values",
    "constants",
    "keep",
    *_SHARED_KEYS,
)
#: Derivation rules.
DERIVE_KEYS = ("payments_from_settlement",)
_SETTLEMENT_KEYS = ("date_column", "date_format", "amount_column")
#: Formats `write_tables` writes.
WRITE_FORMATS = ("csv", "parquet", "sqlite", "duckdb")

_TABLE_FILE_SUFFIXES = (".csv", ".parquet", ".pq")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_DUCKDB_SUFFIXES = (".duckdb",)
_MAPPING_FILE = "mapping.yaml"


# --------------------------------------------------------------------------------------
# Mappings
# --------------------------------------------------------------------------------------


class _MappingLoader(yaml.SafeLoader):
    """YAML 1.2-style booleans (only true/false) and no implicit dates.

    With plain YAML 1.1, ``{Yes: true, No: false}`` would turn the keys into
    booleans and ``2024-01-01`` into a date object.
    """


_MappingLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_MappingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True)
class LedgerMapping:
    """A validated mapping from a real export to the canonical tables.

    Attributes
    ----------
    tables : dict
        Per canonical table: ``source``, ``sheet``, ``query``, ``sep``,
        ``encoding``, ``columns`` ({canonical: source column}), ``values``,
        ``constants``, ``keep`` ({name: source column}) and the parsing options.
    defaults : dict
        Top-level ``date_format``, ``decimal``, ``thousands``,
        ``currency_symbols``, ``portfolio_from`` (apply to every table).
    derive : dict
        Derivation rules, e.g. ``{"payments_from_settlement": {"date_column": ...}}``.
    negative_invoices : str
        ``"set_aside"`` or ``"credit_note"`` (see `arforecast.schema.validate_tables`).
    name, description : str or None
        Labels; ``name`` is the profile or file the mapping came from.
    base_dir : Path or None
        Folder of the mapping file (relative ``source`` paths may start there).
    """

    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    derive: dict[str, dict[str, Any]] = field(default_factory=dict)
    negative_invoices: str = "set_aside"
    name: str | None = None
    description: str | None = None
    base_dir: Path | None = None

    def option(self, table: str, key: str) -> Any:
        """The table's own value of ``key``, else the top-level one, else None."""
        own = self.tables.get(table, {})
        return own[key] if key in own else self.defaults.get(key)


def list_profiles() -> list[str]:
    """Names of the mapping profiles shipped with arforecast (sorted)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_mapping(
    mapping: str | Path | Mapping[str, Any] | LedgerMapping,
) -> LedgerMapping:
    """Load and check a mapping: a YAML file, a shipped profile name, or a dict.

    Parameters
    ----------
    mapping : str, Path, dict or LedgerMapping
        A path to a YAML file, the name of a shipped profile (see
        `list_profiles`, e.g. ``"ibm_late_payments"``), or the mapping itself.

    Returns
    -------
    LedgerMapping

    Raises
    ------
    ConfigError
        If the file or profile does not exist, the YAML does not parse, or a key
        is unknown or has the wrong type (the message lists the valid keys and
        suggests the closest).

    Examples
    --------
    >>> m = load_mapping({"invoices": {"columns": {"invoice_id": "Number"}}})
    >>> m.tables["invoices"]["columns"]
    {'invoice_id': 'Number'}
    """
    if isinstance(mapping, LedgerMapping):
        return mapping
    if isinstance(mapping, Mapping):
        return _check_mapping(dict(mapping), name=None, base_dir=None)
    if not isinstance(mapping, (str, Path)):
        raise ConfigError(
            f"a mapping must be a YAML path, a profile name or a dict; got "
            f"{type(mapping).__name__}"
        )
    path = Path(mapping)
    if not path.is_file():
        profiles = list_profiles()
        if str(mapping) in profiles:
            path = PROFILE_DIR / f"{mapping}.yaml"
        else:
            close = difflib.get_close_matches(str(mapping), profiles, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"mapping {str(mapping)!r} is neither a file nor a shipped profile "
                f"(profiles: {', '.join(profiles) or 'none'}).{hint}"
            )
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_MappingLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"mapping {str(path)!r} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"mapping {str(path)!r} must hold a YAML mapping (key: value); got "
            f"{type(data).__name__}"
        )
    return _check_mapping(data, name=str(mapping), base_dir=path.resolve().parent)


def _unknown_key(
    key: object, valid: tuple[str, ...] | list[str], where: str
) -> ConfigError:
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"unknown key {key!r} in {where}; valid keys are {', '.join(valid)}.{hint}"
    )


def _need(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind):
        names = (
            kind.__name__
            if isinstance(kind, type)
            else " or ".join(k.__name__ for k in kind)
        )
        raise ConfigError(f"{where} must be a {names}; got {value!r}")
    return value


def _check_options(options: dict[str, Any], where: str, table: str | None) -> None:
    fmt = options.get("date_format")
    if isinstance(fmt, dict):
        if table is None:
            raise ConfigError(
                f"date_format at the top of the mapping must be one format such as "
                f"'%d/%m/%Y'; give per-column formats inside a table; got {fmt!r}"
            )
        date_columns = [c for c, (k, _) in TABLES[table].items() if k == "date"]
        for column, value in fmt.items():
            if column not in date_columns:
                raise _unknown_key(column, date_columns, f"{where}.date_format")
            _need(value, str, f"{where}.date_format.{column}")
    elif fmt is not None:
        _need(fmt, str, f"{where}.date_format")
    for key in ("decimal", "thousands"):
        if options.get(key) is not None:
            _need(options[key], str, f"{where}.{key}")
    symbols = options.get("currency_symbols")
    if symbols is not None:
        if isinstance(symbols, str):
            options["currency_symbols"] = [symbols]
        else:
            _need(symbols, list, f"{where}.currency_symbols")
    if options.get("portfolio_from") is not None:
        _need(options["portfolio_from"], str, f"{where}.portfolio_from")


def _check_table(table: str, spec: Any) -> dict[str, Any]:
    where = f"mapping table {table!r}"
    spec = dict(_need(spec or {}, dict, where))
    for key in spec:
        if key not in TABLE_KEYS:
            raise _unknown_key(key, TABLE_KEYS, where)
    contract = list(TABLES[table])
    _check_options(spec, where, table)

    columns = {
        str(k): str(v)
        for k, v in _need(spec.get("columns") or {}, dict, f"{where}.columns").items()
    }
    for canonical in columns:
        if canonical not in contract:
            raise _unknown_key(
                canonical, contract, f"{where}.columns (canonical names)"
            )
    if spec.get("portfolio_from") is not None:
        if "portfolio" not in contract:
            raise ConfigError(
                f"{where}: portfolio_from needs a table with a portfolio column"
            )
        if "portfolio" in columns:
            raise ConfigError(
                f"{where}: give portfolio in columns or portfolio_from, not both"
            )
        columns["portfolio"] = spec["portfolio_from"]
    spec["columns"] = columns

    keep = spec.get("keep") or []
    if isinstance(keep, (str, dict)):
        keep = [keep]
    kept: dict[str, str] = {}
    for item in _need(keep, list, f"{where}.keep"):
        if isinstance(item, dict):
            kept.update({str(k): str(v) for k, v in item.items()})
        else:
            kept[str(item)] = str(item)
    for name in kept:
        if name in contract or name == "row":
            raise ConfigError(
                f"{where}.keep: {name!r} is a canonical column; map it in 'columns' "
                "instead, or keep it under another name ({new_name: source})"
            )
    spec["keep"] = kept

    constants = dict(_need(spec.get("constants") or {}, dict, f"{where}.constants"))
    for column in constants:
        if column not in contract:
            raise _unknown_key(column, contract, f"{where}.constants")
        if column in columns:
            raise ConfigError(
                f"{where}: {column!r} is both mapped in columns and set in constants; "
                "use one"
            )
    spec["constants"] = constants

    values = dict(_need(spec.get("values") or {}, dict, f"{where}.values"))
    for column, table_values in values.items():
        if column not in contract and column not in kept:
            raise _unknown_key(column, contract + list(kept), f"{where}.values")
        _need(table_values, dict, f"{where}.values.{column}")
    spec["values"] = values
    for key in ("source", "sheet", "query", "sep", "encoding"):
        if spec.get(key) is not None:
            _need(spec[key], str, f"{where}.{key}")
    return spec


def _check_mapping(
    data: dict[str, Any], *, name: str | None, base_dir: Path | None
) -> LedgerMapping:
    valid = list(MAPPING_KEYS) + list(TABLES)
    for key in data:
        if key not in valid:
            raise _unknown_key(key, valid, "the mapping")
    defaults = {k: data[k] for k in _SHARED_KEYS if data.get(k) is not None}
    _check_options(defaults, "the mapping", None)
    tables = {t: _check_table(t, data[t]) for t in TABLES if t in data}
    if "portfolio_from" in defaults:
        inv = tables.setdefault("invoices", _check_table("invoices", {}))
        if "portfolio" in inv["columns"]:
            raise ConfigError(
                "give the invoices' portfolio in columns or portfolio_from, not both"
            )
        inv["columns"]["portfolio"] = defaults.pop("portfolio_from")

    derive = dict(_need(data.get("derive") or {}, dict, "derive"))
    for key, rule in derive.items():
        if key not in DERIVE_KEYS:
            raise _unknown_key(key, DERIVE_KEYS, "derive")
        rule = dict(_need(rule or {}, dict, f"derive.{key}"))
        for option in rule:
            if option not in _SETTLEMENT_KEYS:
                raise _unknown_key(option, _SETTLEMENT_KEYS, f"derive.{key}")
        if not isinstance(rule.get("date_column"), str):
            raise ConfigError(
                f"derive.{key} needs date_column: the invoices' column holding the "
                "settlement date, e.g. {date_column: SettledDate}"
            )
        derive[key] = rule
    if "payments_from_settlement" in derive and "payments" in tables:
        raise ConfigError(
            "the mapping both maps a payments table and derives payments from "
            "settlement dates; keep one"
        )

    policy = data.get("negative_invoices", "set_aside")
    if policy not in NEGATIVE_INVOICE_POLICIES:
        raise ConfigError(
            f"negative_invoices must be one of {', '.join(NEGATIVE_INVOICE_POLICIES)}; "
            f"got {policy!r}"
        )
    return LedgerMapping(
        tables=tables,
        defaults=defaults,
        derive=derive,
        negative_invoices=policy,
        name=data.get("name") or name,
        description=data.get("description"),
        base_dir=base_dir,
    )


def _resolve_mapping(source: str | Path, mapping: Any) -> LedgerMapping:
    if mapping is not None:
        return load_mapping(mapping)
    if not _is_url(source):
        path = Path(source)
        folder = path if path.is_dir() else path.parent
        beside = folder / _MAPPING_FILE
        if beside.is_file():
            logger.info("using mapping %s found beside the data", beside)
            return load_mapping(beside)
    return LedgerMapping()


# --------------------------------------------------------------------------------------
# Raw readers: every table as text (CSV, Excel) or as stored (Parquet, SQL)
# --------------------------------------------------------------------------------------


@dataclass
class _Raw:
    frame: pd.DataFrame  # source columns + "row"
    origin: str  # file/sheet/table, for messages
    # spreadsheet and database date cells carry no notation: they arrive as ISO
    typed_cells: bool = False


def _display(source: str | Path) -> str:
    """The source as text for messages and reports, with any URL password hidden."""
    if not _is_url(source):
        return str(source)
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(str(source)).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", str(source))


def _is_url(source: object) -> bool:
    return isinstance(source, str) and "://" in source


def _with_rows(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    if "row" in frame.columns:
        frame = frame.rename(columns={"row": "row_source"})
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.assign(row=np.arange(2, len(frame) + 2, dtype="int64"))


def _drop_blank_lines(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows that are blank in every column (their line numbers stay counted)."""
    columns = [c for c in frame.columns if c != "row"]
    if not columns:
        return frame
    candidates = np.arange(len(frame))
    for column in columns:
        # narrow down column by column: few rows are blank in the first one
        series = frame[column].iloc[candidates]
        blank = series.isna().to_numpy()
        if _is_text(series):
            text = series.astype(object).where(~blank, "").astype(str).str.strip()
            blank = blank | (text == "").to_numpy()
        candidates = candidates[blank]
        if len(candidates) == 0:
            return frame
    return frame.drop(index=frame.index[candidates]).reset_index(drop=True)


def _read_csv(path: Path, sep: str | None, encoding: str | None) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            sep=sep or ",",
            encoding=encoding or "utf-8-sig",
            skip_blank_lines=False,
        )
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not {encoding or 'UTF-8'} text ({exc.reason}); set 'encoding' "
            "for this table in the mapping, e.g. encoding: cp1252"
        ) from exc
    except pd.errors.EmptyDataError:
        return pd.DataFrame({"row": pd.Series(dtype="int64")})
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{path} is not a well-formed CSV file ({str(exc).strip()}); check the delimiter ('sep' "
            "in the mapping) and the quoting"
        ) from exc
    _check_delimiter(path, frame, sep)
    return _drop_blank_lines(_with_rows(frame))


def _check_delimiter(path: Path, frame: pd.DataFrame, sep: str | None) -> None:
    """Refuse a one-column read whose header holds another common delimiter."""
    if len(frame.columns) != 1:
        return
    header = str(frame.columns[0])
    for candidate, label in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
        if candidate != (sep or ",") and header.count(candidate) >= 2:
            shown = "\\t" if candidate == "\t" else candidate
            raise DataError(
                f"{path} was read as one column {reprlib.repr(header)}: the file "
                f"looks {label}-separated. Set the delimiter for this table in the "
                f'mapping, e.g. sep: "{shown}" under its table name (docs/data.md, '
                "per-table keys)."
            )


def _read_excel(path: Path, sheet: str | int | None) -> dict[str, pd.DataFrame]:
    try:
        sheets = pd.read_excel(path, sheet_name=sheet, dtype=str, keep_default_na=False)
    except ImportError as exc:
        raise DataError(
            f"reading {path.name} needs an Excel engine that is not installed ({exc}); "
            "save the workbook as .xlsx (read with openpyxl) or export CSV"
        ) from exc
    except ValueError as exc:
        raise DataError(f"cannot read sheet {sheet!r} of {path}: {exc}") from exc
    if not isinstance(sheets, dict):
        sheets = {str(sheet): sheets}
    return {str(k): _drop_blank_lines(_with_rows(v)) for k, v in sheets.items()}


def _read_file(path: Path, spec: dict[str, Any], table: str) -> _Raw:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _Raw(_with_rows(pd.read_parquet(path)), str(path))
    if suffix in _EXCEL_SUFFIXES:
        sheet = spec.get("sheet")
        books = _read_excel(path, sheet if sheet is not None else 0)
        (name, frame), *_ = books.items()
        return _Raw(frame, f"{path}[{name}]", typed_cells=True)
    if suffix in (".csv", ".txt", ".tsv"):
        sep = spec.get("sep") or ("\t" if suffix == ".tsv" else None)
        return _Raw(_read_csv(path, sep, spec.get("encoding")), str(path))
    raise ConfigError(
        f"cannot read {path} for table {table!r}: unknown file type {suffix!r}; use "
        f"CSV, Parquet or Excel ({', '.join(_EXCEL_SUFFIXES)})"
    )


def _locate(base: Path, name: str, mapping: LedgerMapping) -> Path:
    for folder in (base, mapping.base_dir):
        if folder is not None and (folder / name).is_file():
            return folder / name
    raise DataError(
        f"file {name!r} named in the mapping was not found in {base}"
        + (f" or {mapping.base_dir}" if mapping.base_dir else "")
        + "; fix 'source' in the mapping"
    )


def _read_folder(folder: Path, mapping: LedgerMapping) -> dict[str, _Raw]:
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    raws: dict[str, _Raw] = {}
    for table in TABLES:
        spec = mapping.tables.get(table, {})
        if spec.get("source"):
            raws[table] = _read_file(
                _locate(folder, spec["source"], mapping), spec, table
            )
            continue
        found = [
            files[f"{table}{s}"] for s in _TABLE_FILE_SUFFIXES if f"{table}{s}" in files
        ]
        if len(found) > 1:
            raise ConfigError(
                f"{folder} holds several files for table {table!r} "
                f"({', '.join(p.name for p in found)}); keep one or name it with "
                "'source' in the mapping"
            )
        if found:
            raws[table] = _read_file(found[0], spec, table)
    if "invoices" not in raws:
        stems = sorted(
            {p.stem for p in files.values() if p.suffix.lower() in _TABLE_FILE_SUFFIXES}
        )
        close = difflib.get_close_matches("invoices", stems, n=1)
        hint = f" (is {close[0]!r} meant to be it?)" if close else ""
        logger.info("no invoices file in %s%s", folder, hint)
    return raws


def _read_workbook(path: Path, mapping: LedgerMapping) -> dict[str, _Raw]:
    books = _read_excel(path, None)
    by_lower = {name.lower(): name for name in books}
    raws: dict[str, _Raw] = {}
    for table in TABLES:
        spec = mapping.tables.get(table, {})
        wanted = spec.get("sheet") or spec.get("source") or table
        if wanted.lower() in by_lower:
            name = by_lower[wanted.lower()]
            raws[table] = _Raw(books[name], f"{path}[{name}]", typed_cells=True)
        elif spec.get("sheet") or spec.get("source"):
            raise DataError(
                f"sheet {wanted!r} for table {table!r} is not in {path} (sheets: "
                f"{', '.join(books)}); fix 'sheet' in the mapping"
            )
    if not raws and books:
        first = next(iter(books))
        logger.info(
            "no sheet of %s is named after a table; reading %r as invoices", path, first
        )
        raws["invoices"] = _Raw(books[first], f"{path}[{first}]", typed_cells=True)
    return raws


def _read_single(path: Path, mapping: LedgerMapping) -> dict[str, _Raw]:
    unsourced = [t for t in mapping.tables if not mapping.tables[t].get("source")]
    if "invoices" in unsourced or not unsourced:
        table = "invoices"
    elif len(unsourced) == 1:
        table = unsourced[0]
    else:
        raise ConfigError(
            f"{path} is one file but the mapping maps {', '.join(unsourced)} without a "
            "'source'; say which table the file is by giving the others a source"
        )
    raws = {table: _read_file(path, mapping.tables.get(table, {}), table)}
    for other, spec in mapping.tables.items():
        if other != table and spec.get("source"):
            raws[other] = _read_file(
                _locate(path.parent, spec["source"], mapping), spec, other
            )
    return raws


def _sql_targets(
    mapping: LedgerMapping, existing: list[str]
) -> dict[str, tuple[str, bool]]:
    """table -> (query or table name, is_query) for the tables the database holds."""
    by_lower = {name.lower(): name for name in existing}
    targets: dict[str, tuple[str, bool]] = {}
    for table in TABLES:
        spec = mapping.tables.get(table, {})
        if spec.get("query"):
            targets[table] = (spec["query"], True)
            continue
        wanted = spec.get("source") or table
        if wanted.lower() in by_lower:
            targets[table] = (by_lower[wanted.lower()], False)
        elif spec.get("source"):
            raise DataError(
                f"database table {wanted!r} for {table!r} does not exist (tables: "
                f"{', '.join(existing) or 'none'}); fix 'source' in the mapping"
            )
    return targets


def _read_sqlalchemy(url: str, mapping: LedgerMapping) -> dict[str, _Raw]:
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or not Path(database).is_file():
                # SQLite would silently create an empty database file
                raise DataError(
                    f"SQLite database {database!r} does not exist; check the path in "
                    f"{_display(url)}"
                )
        engine = sa.create_engine(url)
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise DataError(
            f"cannot open {_display(url)}: {exc}; check the URL and that its database "
            "driver is installed"
        ) from exc
    try:
        with engine.connect() as conn:
            existing = sa.inspect(conn).get_table_names()
            raws = {}
            for table, (target, is_query) in _sql_targets(mapping, existing).items():
                if is_query:
                    frame = pd.read_sql_query(sa.text(target), conn)
                else:
                    frame = pd.read_sql_table(target, conn)
                raws[table] = _Raw(
                    _with_rows(frame), f"{_display(url)} {target}", typed_cells=True
                )
    finally:
        engine.dispose()
    return raws


def _read_duckdb(path: str, mapping: LedgerMapping) -> dict[str, _Raw]:
    import duckdb

    if not Path(path).is_file():
        raise DataError(f"DuckDB file {path} does not exist; check the path")
    con = duckdb.connect(path, read_only=True)
    try:
        existing = (
            con.execute(
                "select table_name from information_schema.tables order by table_name"
            )
            .df()["table_name"]
            .tolist()
        )
        raws = {}
        for table, (target, is_query) in _sql_targets(mapping, existing).items():
            # table names come from information_schema, so quoting them is safe
            sql = target if is_query else f'select * from "{target}"'
            frame = _with_rows(con.execute(sql).df())
            raws[table] = _Raw(frame, f"{path} {target}", typed_cells=True)
    finally:
        con.close()
    return raws


def _read_raw(source: str | Path, mapping: LedgerMapping) -> dict[str, _Raw]:
    if _is_url(source):
        url = str(source)
        if url.startswith("duckdb:"):
            return _read_duckdb(re.sub(r"^duckdb:/{2,3}", "", url), mapping)
        return _read_sqlalchemy(url, mapping)
    path = Path(source)
    if not path.exists():
        raise DataError(
            f"data source {str(source)!r} does not exist; give a folder of table files, "
            "a CSV/Parquet/Excel file, a .db/.sqlite/.duckdb file or an SQLAlchemy URL"
        )
    if path.is_dir():
        return _read_folder(path, mapping)
    suffix = path.suffix.lower()
    if suffix in _SQLITE_SUFFIXES:
        return _read_sqlalchemy(f"sqlite:///{path.resolve()}", mapping)
    if suffix in _DUCKDB_SUFFIXES:
        return _read_duckdb(str(path), mapping)
    if suffix in _EXCEL_SUFFIXES and not mapping.tables.get("invoices", {}).get(
        "sheet"
    ):
        return _read_workbook(path, mapping)
    return _read_single(path, mapping)


# --------------------------------------------------------------------------------------
# Applying a mapping to one raw table
# --------------------------------------------------------------------------------------


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def _repeated_headers(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every text value equals its column name (a header pasted again)."""
    columns = [c for c in frame.columns if c != "row"]
    if not columns or not all(_is_text(frame[c]) for c in columns):
        return np.zeros(len(frame), bool)
    candidates = np.arange(len(frame))
    for column in columns:
        # narrow down column by column: only a few rows survive the first one
        text = frame[column].iloc[candidates].str.strip().str.lower()
        hit = (text == str(column).lower()).fillna(False).to_numpy(dtype=bool)
        candidates = candidates[hit]
        if len(candidates) == 0:
            break
    mask = np.zeros(len(frame), bool)
    mask[candidates] = True
    return mask


def _map_values(series: pd.Series, table: dict[Any, Any]) -> pd.Series:
    lookup = pd.Series(
        {str(k).strip().lower(): v for k, v in table.items()}, dtype=object
    )
    text = series.astype(object)
    if _is_text(series):
        keys = series.str.strip().str.lower().astype(object)
    else:
        keys = series.astype(str).str.lower().astype(object)
    hit = keys.isin(lookup.index).to_numpy()
    out = text.copy()
    out[hit] = lookup.reindex(keys[hit]).to_numpy()
    return out


def _date_format(mapping: LedgerMapping, table: str, column: str) -> str | None:
    fmt = mapping.option(table, "date_format")
    if isinstance(fmt, dict):
        return fmt.get(column) or mapping.defaults.get("date_format")
    return fmt


class _Applier:
    """Turn one raw table into canonical columns, collecting findings."""

    def __init__(self, mapping: LedgerMapping) -> None:
        self.mapping = mapping
        self.findings: list[Finding] = []

    def fatal(
        self,
        code: str,
        table: str,
        rows: np.ndarray,
        column: str | None,
        value: Any,
        message: str,
        severity: Severity = "fatal",
    ) -> None:
        text = None if value is None else str(value)
        rows_tuple = tuple(np.asarray(rows).tolist())
        self.findings.append(
            Finding(severity, code, table, rows_tuple, column, text, message)
        )

    def apply(self, table: str, raw: _Raw) -> tuple[pd.DataFrame, np.ndarray]:
        spec = self.mapping.tables.get(table, {})
        frame = raw.frame
        rows = frame["row"].to_numpy()
        drop = np.zeros(len(frame), bool)

        header = _repeated_headers(frame)
        if header.any():
            names = [c for c in frame.columns if c != "row"]
            self.fatal(
                "repeated_header",
                table,
                rows[header],
                None,
                ", ".join(names),
                f"this row of {raw.origin} repeats the column names (files "
                "concatenated with their headers?); delete the row and check the rows "
                "around it",
            )
            drop |= header

        # columns: renamed, identical, constant or kept
        renames = spec.get("columns", {})
        out: dict[str, Any] = {}
        source_columns: dict[str, str] = {}
        present = [c for c in frame.columns if c != "row"]
        for canonical, (_, required) in TABLES[table].items():
            source = renames.get(canonical, canonical)
            if canonical in spec.get("constants", {}):
                out[canonical] = spec["constants"][canonical]
                continue
            source_columns[canonical] = source
            if source in frame.columns and source != "row":
                out[canonical] = frame[source]
            elif canonical in renames and not required:
                self._missing_column(table, canonical, source, present, raw.origin)
        for name, source in spec.get("keep", {}).items():
            if source in frame.columns:
                out[name] = frame[source]
            else:
                self._missing_column(table, name, source, present, raw.origin)
        result = pd.DataFrame(out, index=frame.index)
        for column, values in spec.get("values", {}).items():
            if column in result:
                result[column] = _map_values(result[column], values)

        # typed values with the declared notation
        checkable = ~drop
        for canonical, (kind, required) in TABLES[table].items():
            if canonical not in result or canonical in spec.get("constants", {}):
                continue
            if kind == "date":
                fmt = _date_format(self.mapping, table, canonical)
                values, bad = parse_dates(
                    result[canonical], fmt, accept_iso=raw.typed_cells
                )
                what = f"the declared date format {fmt!r}" if fmt else "ISO YYYY-MM-DD"
                fix = "correct the values or 'date_format' in the mapping"
            elif kind in ("amount", "float", "int"):
                decimal = self.mapping.option(table, "decimal") or "."
                thousands = self.mapping.option(table, "thousands")
                if thousands is None:
                    thousands = "," if decimal != "," else "."
                symbols = self.mapping.option(table, "currency_symbols") or ()
                values, bad = parse_amounts(
                    result[canonical], decimal, thousands, symbols
                )
                what = f"a number with decimal {decimal!r} and thousands {thousands!r}"
                fix = "correct the values or 'decimal'/'thousands' in the mapping"
            else:
                continue
            bad = bad.to_numpy() & checkable
            if bad.any():
                source = source_columns[canonical]
                shown = result[canonical][bad]
                examples = ", ".join(
                    repr(str(v)) for v in pd.unique(shown.astype(str))[:3]
                )
                self.fatal(
                    "bad_date" if kind == "date" else "bad_amount",
                    table,
                    rows[bad],
                    source,
                    shown.iloc[0],
                    f"{bad.sum()} value(s) in column {source!r} of {raw.origin} do not "
                    f"match {what} ({examples}); {fix}",
                    severity="fatal" if required else "warning",
                )
                if required:
                    drop |= bad
            result[canonical] = values

        result["row"] = rows
        result.attrs["source_columns"] = source_columns
        return result, drop

    def _missing_column(
        self, table: str, canonical: str, source: str, present: list[str], origin: str
    ) -> None:
        close = difflib.get_close_matches(source, present, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        self.fatal(
            "missing_column",
            table,
            np.array([], dtype="int64"),
            source,
            None,
            f"column {source!r} (mapped to {canonical!r}) is not in {origin}; its "
            f"columns are {', '.join(present)}.{hint} Fix the mapping",
        )

    def settlement_payments(
        self, invoices: pd.DataFrame, raw: _Raw, drop: np.ndarray
    ) -> pd.DataFrame:
        rule = self.mapping.derive["payments_from_settlement"]
        column = rule["date_column"]
        frame = raw.frame
        present = [c for c in frame.columns if c != "row"]
        columns = [
            "invoice_id",
            "payment_id",
            "payment_date",
            "amount",
            "currency",
            "customer_id",
            "row",
        ]
        if column not in frame.columns:
            self._missing_column(
                "invoices", "payment_date", column, present, raw.origin
            )
            return pd.DataFrame(columns=columns)
        fmt = rule.get("date_format") or _date_format(
            self.mapping, "invoices", "invoice_date"
        )
        dates, bad = parse_dates(frame[column], fmt, accept_iso=raw.typed_cells)
        bad = bad.to_numpy() & ~drop
        rows = frame["row"].to_numpy()
        if bad.any():
            self.fatal(
                "bad_date",
                "invoices",
                rows[bad],
                column,
                frame[column][bad].iloc[0],
                f"{bad.sum()} settlement date(s) in {column!r} do not match "
                f"{fmt or 'ISO YYYY-MM-DD'!r}; correct them or set "
                "derive.payments_from_settlement.date_format",
            )
        amounts = invoices["amount"]
        if rule.get("amount_column"):
            source = rule["amount_column"]
            if source not in frame.columns:
                self._missing_column(
                    "invoices", "payments.amount", source, present, raw.origin
                )
                return pd.DataFrame(columns=columns)
            decimal = self.mapping.option("invoices", "decimal") or "."
            thousands = self.mapping.option("invoices", "thousands")
            if thousands is None:
                thousands = "," if decimal != "," else "."
            symbols = self.mapping.option("invoices", "currency_symbols") or ()
            amounts, bad_amount = parse_amounts(
                frame[source], decimal, thousands, symbols
            )
            bad_amount = bad_amount.to_numpy() & ~drop
            if bad_amount.any():
                self.fatal(
                    "bad_amount",
                    "invoices",
                    rows[bad_amount],
                    source,
                    frame[source][bad_amount].iloc[0],
                    f"{bad_amount.sum()} settled amount(s) in {source!r} are not numbers "
                    "in the declared notation; correct them or the mapping",
                )
            bad = bad | bad_amount
        settled = dates.notna().to_numpy() & ~drop & ~bad
        payments = pd.DataFrame(
            {
                "invoice_id": invoices["invoice_id"],
                "payment_id": invoices["invoice_id"]
                if "invoice_id" in invoices
                else None,
                "payment_date": dates,
                "amount": amounts,
                "currency": invoices["currency"] if "currency" in invoices else np.nan,
                "customer_id": invoices["customer_id"]
                if "customer_id" in invoices
                else np.nan,
                "row": rows,
            },
            index=frame.index,
        )[settled]
        payments.attrs["source_columns"] = {"payment_date": column}
        logger.info(
            "derived %d payments from settlement dates in %r", len(payments), column
        )
        return payments.reset_index(drop=True)


def read_tables(
    source: str | Path,
    mapping: str | Path | Mapping[str, Any] | LedgerMapping | None = None,
) -> tuple[dict[str, pd.DataFrame], list[Finding]]:
    """Read the ledger tables of a source and apply a mapping.

    Parameters
    ----------
    source : str or Path
        One of: a folder of files named after the tables (``invoices.csv``,
        ``payments.parquet``, ...); a single CSV/Parquet/Excel file (the table the
        mapping maps without a ``source``, else ``invoices``); an Excel workbook
        with one sheet per table; a ``.db``/``.sqlite`` (SQLite) or ``.duckdb``
        file; or an SQLAlchemy URL (``sqlite:///x.db``; ``duckdb:///x.duckdb`` is
        read with the duckdb package).
    mapping : str, Path, dict or LedgerMapping, optional
        A mapping file, a shipped profile name or a dict (see `load_mapping`).
        Default: ``mapping.yaml`` beside the data when it exists, else none.

    Returns
    -------
    tables : dict of str to DataFrame
        Canonical tables: the contract's columns found in the source (renamed,
        with values maps and constants applied), the kept extra columns, and
        ``row``, the source line (header = 1; for Parquet/SQL the record
        position + 2). Dates and amounts are parsed (``datetime64[ns]``,
        ``float64``); everything else is text, so ids keep leading zeros.
        ``attrs["source_columns"]`` maps canonical to source column names.
        Rows with a fatal problem (a repeated header, an unparseable date or
        amount in a required column) are left out; the findings name them.
    findings : list of Finding
        Problems found while reading; pass them on (`load_ledger` does).

    Raises
    ------
    ConfigError
        On an invalid mapping or an ambiguous source.
    DataError
        If the source or a file named in the mapping does not exist or cannot be
        read.
    """
    spec = _resolve_mapping(source, mapping)
    raws = _read_raw(source, spec)
    applier = _Applier(spec)
    tables: dict[str, pd.DataFrame] = {}
    for table, raw in raws.items():
        frame, drop = applier.apply(table, raw)
        if table == "invoices" and "payments_from_settlement" in spec.derive:
            if "payments" in raws:
                raise ConfigError(
                    f"the source has a payments table ({raws['payments'].origin}) and "
                    "the mapping derives payments from settlement dates; keep one"
                )
            tables["payments"] = applier.settlement_payments(frame, raw, drop)
        kept = frame[~drop].reset_index(drop=True)
        kept.attrs = dict(frame.attrs)
        tables[table] = kept
    tables = {name: tables[name] for name in TABLES if name in tables}
    logger.info(
        "read %s from %s",
        ", ".join(f"{k} ({len(v)} rows)" for k, v in tables.items()),
        _display(source),
    )
    return tables, applier.findings


def load_ledger(
    source: str | Path,
    mapping: str | Path | Mapping[str, Any] | LedgerMapping | None = None,
    *,
    currency: str | None = None,
    revalue: bool = False,
) -> Ledger:
    """Read, map and validate a ledger.

    Parameters
    ----------
    source : str or Path
        Folder, file, database file or URL (see `read_tables`).
    mapping : str, Path, dict or LedgerMapping, optional
        Mapping file, shipped profile name (e.g. ``"ibm_late_payments"``) or dict.
    currency : str, optional
        Reporting currency (default: the only currency in the data).
    revalue : bool, default=False
        Revalue open balances at the as-of rate.

    Returns
    -------
    Ledger
        With ``quality`` holding every finding and the reconciliation.

    Raises
    ------
    LedgerValidationError
        On any fatal finding, listing the first ten in full.
    ConfigError, DataError
        As `read_tables`.

    Examples
    --------
    >>> ledger = load_ledger("data/WA_Fn-UseC_-Accounts-Receivable.csv",
    ...                      "ibm_late_payments")  # doctest: +SKIP
    """
    from arforecast.ledger import Ledger

    spec = _resolve_mapping(source, mapping)
    tables, findings = read_tables(source, spec)
    if "payments" not in tables or any(f.severity == "fatal" for f in findings):
        # collect the validation findings too, then stop with all of them
        validate_tables(
            tables, negative_invoices=spec.negative_invoices, prior_findings=findings
        )
    return Ledger.from_frames(
        **tables,
        currency=currency,
        revalue=revalue,
        source=_display(source),
        quality=findings,
        negative_invoices=spec.negative_invoices,
    )


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _for_writing(frame: pd.DataFrame, iso_dates: bool) -> pd.DataFrame:
    out = frame.drop(columns=["row"], errors="ignore").copy()
    for column in out.columns:
        series = out[column]
        if iso_dates and pd.api.types.is_datetime64_any_dtype(series.dtype):
            out[column] = series.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
            out[column] = series.astype(object).where(series.notna(), None)
    return out


def write_tables(
    tables: Mapping[str, pd.DataFrame], out: str | Path, fmt: str = "csv"
) -> Path:
    """Write tables so that `read_tables` reads them back.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Table name to frame (the ``row`` column is not written).
    out : str or Path
        A folder for ``"csv"`` and ``"parquet"`` (one ``<table>.<fmt>`` file per
        table; created if needed), a database file for ``"sqlite"`` and
        ``"duckdb"`` (tables replaced if they exist).
    fmt : {"csv", "parquet", "sqlite", "duckdb"}, default="csv"
        CSV has ISO dates, blank missing values and UTF-8 text.

    Returns
    -------
    Path
        The folder or database file written.

    Raises
    ------
    ConfigError
        On an unknown ``fmt``.
    """
    if fmt not in WRITE_FORMATS:
        close = difflib.get_close_matches(str(fmt), WRITE_FORMATS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"fmt must be one of {', '.join(WRITE_FORMATS)}; got {fmt!r}{hint}"
        )
    out = Path(out)
    if fmt in ("csv", "parquet"):
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            data = _for_writing(frame, iso_dates=fmt == "csv")
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                data.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
            else:
                data.to_parquet(path, index=False)
    elif fmt == "sqlite":
        import sqlalchemy as sa

        out.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(f"sqlite:///{out.resolve()}")
        try:
            with engine.begin() as conn:
                for name, frame in tables.items():
                    _for_writing(frame, iso_dates=False).to_sql(
                        name, conn, if_exists="replace", index=False
                    )
        finally:
            engine.dispose()
    else:
        import duckdb

        out.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(out))
        try:
            for name, frame in tables.items():
                if name not in TABLES:
                    raise ConfigError(
                        f"table name {name!r} is not a ledger table ({', '.join(TABLES)})"
                    )
                data = _for_writing(frame, iso_dates=False)
                con.register("_arforecast_frame", data)
                con.execute(
                    f'create or replace table "{name}" as select * from _arforecast_frame'
                )
                con.unregister("_arforecast_frame")
        finally:
            con.close()
    logger.info("wrote %s to %s (%s)", ", ".join(tables), out, fmt)
    return out
