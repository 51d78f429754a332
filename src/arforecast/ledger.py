"""The Ledger: validated AR tables and their balances as of any date."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from arforecast.exceptions import DataError
from arforecast.schema import DataQuality, Finding, raise_for_fatal

__all__ = ["BALANCE_EPSILON", "Ledger", "to_timestamp"]

logger = logging.getLogger(__name__)

#: Balances smaller than this (in document currency) count as settled: half a cent.
BALANCE_EPSILON = 0.005

#: Portfolio given to rows whose invoice and customer name none.
UNASSIGNED = "unassigned"

#: Currency code used when the data names none and the caller gives none: the
#: ISO 4217 code for "no currency" (a real code, not a placeholder to fill in),
#: so amounts are never labelled with a currency the data did not state.
UNSPECIFIED_CURRENCY = "XXX"

_TABLE_NAMES = (
    "invoices",
    "payments",
    "adjustments",
    "activities",
    "customers",
    "fx_rates",
)


def to_timestamp(value: object, name: str = "as_of") -> pd.Timestamp:
    """Parse a date given as ISO text, date or Timestamp; reject anything else.

    Parameters
    ----------
    value : str, datetime.date or pandas.Timestamp
        The date. Text must be ISO ``YYYY-MM-DD``.
    name : str, default="as_of"
        Parameter name used in the error message.

    Returns
    -------
    pandas.Timestamp
        Normalised to midnight, timezone-naive.

    Raises
    ------
    DataError
        If the value is missing or not a date.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise DataError(f"`{name}` is required: give a date such as 2024-03-31.")
    try:
        # text must be ISO: "03/09/2025" is March or September depending on who
        # typed it, so it is refused rather than guessed
        if isinstance(value, str):
            ts = pd.Timestamp(pd.to_datetime(value.strip(), format="%Y-%m-%d"))
        else:
            ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"`{name}` must be an ISO date (YYYY-MM-DD); got {value!r}."
        ) from exc
    if pd.isna(ts):
        raise DataError(f"`{name}` must be an ISO date (YYYY-MM-DD); got {value!r}.")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


_DEFAULTS: dict[str, dict[str, str]] = {
    "invoices": {
        "invoice_id": "object",
        "customer_id": "object",
        "invoice_date": "datetime64[ns]",
        "due_date": "datetime64[ns]",
        "amount": "float64",
    },
    "payments": {
        "invoice_id": "object",
        "payment_date": "datetime64[ns]",
        "amount": "float64",
    },
    "adjustments": {
        "invoice_id": "object",
        "date": "datetime64[ns]",
        "amount": "float64",
        "kind": "object",
    },
    "activities": {
        "customer_id": "object",
        "date": "datetime64[ns]",
        "kind": "object",
        "invoice_id": "object",
        "promised_amount": "float64",
        "promised_date": "datetime64[ns]",
        "collector": "object",
    },
    "customers": {
        "customer_id": "object",
        "name": "object",
        "portfolio": "object",
        "country": "object",
        "terms_days": "float64",
        "credit_limit": "float64",
    },
    "fx_rates": {"date": "datetime64[ns]", "currency": "object", "rate": "float64"},
}


def _as_str(series: pd.Series) -> pd.Series:
    """Ids and codes as an object column of Python strings (``None`` when blank).

    Object columns hash and compare faster than Arrow-backed strings here, and
    every id-joining step (payments to invoices, customers) relies on them.
    """
    values = series.to_numpy(dtype=object, na_value=None)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        mask = pd.isna(values)
        values = np.where(mask, None, series.astype(str).to_numpy(dtype=object))
    return pd.Series(values, index=series.index, dtype=object)


def _as_datetime(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).astype("datetime64[ns]").dt.normalize()


@dataclass
class Ledger:
    """Validated accounts-receivable tables and their as-of balances.

    Build one with :meth:`from_frames` (frames in the canonical columns) or with
    :func:`arforecast.io.load_ledger` (files, databases, mappings). The tables are
    described in ``docs/data.md``; every amount column ending in ``_rc`` is in the
    reporting currency :attr:`currency`.

    Attributes
    ----------
    invoices, payments, adjustments, activities, customers, fx_rates : DataFrame
        The clean tables, one row per document.
    currency : str
        Reporting currency.
    quality : DataQuality
        Findings of the load (warnings and set-aside rows) and its reconciliation.
    source : str
        Where the data came from (a path, a URL or ``"frames"``).
    revalue : bool
        Whether open balances are revalued at the ``as_of`` rate (default: the
        rate of each invoice's own date).

    Notes
    -----
    Everything is computed as of a date: only events dated on or before it count,
    and nothing reads the machine's clock.
    """

    invoices: pd.DataFrame
    payments: pd.DataFrame
    adjustments: pd.DataFrame
    activities: pd.DataFrame
    customers: pd.DataFrame
    fx_rates: pd.DataFrame
    currency: str
    quality: DataQuality = field(default_factory=DataQuality)
    source: str = "frames"
    revalue: bool = False
    _fingerprint: str | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_frames(
        cls,
        invoices: pd.DataFrame,
        payments: pd.DataFrame | None = None,
        adjustments: pd.DataFrame | None = None,
        activities: pd.DataFrame | None = None,
        customers: pd.DataFrame | None = None,
        fx_rates: pd.DataFrame | None = None,
        *,
        currency: str | None = None,
        revalue: bool = False,
        source: str = "frames",
        quality: DataQuality | list[Finding] | None = None,
        negative_invoices: str = "set_aside",
    ) -> Ledger:
        """Validate frames in the canonical columns and build a ledger.

        Parameters
        ----------
        invoices, payments, adjustments, activities, customers, fx_rates : DataFrame
            Tables of the data contract; values typed or ISO text. Only
            ``invoices`` is required (no payments means nothing was paid).
        currency : str, optional
            Reporting currency. Defaults to the only currency in the data, or the
            one currency that has no row in ``fx_rates``.
        revalue : bool, default=False
            Convert open balances at the ``as_of`` rate instead of each invoice's
            own date.
        source : str, default="frames"
            Label of the origin, shown in reports.
        quality : DataQuality or list of Finding, optional
            Findings already made while reading (by :mod:`arforecast.io`).
        negative_invoices : {"set_aside", "credit_note"}, default="set_aside"
            What a negative invoice amount means.

        Returns
        -------
        Ledger

        Raises
        ------
        LedgerValidationError
            On any fatal finding (missing column, unparseable value, duplicate
            invoice id, a currency without an FX rate, ...).

        Examples
        --------
        >>> import pandas as pd
        >>> inv = pd.DataFrame({"invoice_id": ["A"], "customer_id": ["C1"],
        ...     "invoice_date": ["2024-01-10"], "due_date": ["2024-02-09"],
        ...     "amount": [1000.0]})
        >>> pay = pd.DataFrame({"invoice_id": ["A"], "payment_date": ["2024-02-01"],
        ...     "amount": [300.0]})
        >>> led = Ledger.from_frames(inv, pay, currency="EUR")
        >>> float(led.open_items("2024-02-15")["balance_rc"].sum())
        700.0
        """
        from arforecast.schema import validate_tables

        raw = {
            "invoices": invoices,
            "payments": payments,
            "adjustments": adjustments,
            "activities": activities,
            "customers": customers,
            "fx_rates": fx_rates,
        }
        raw = {k: v for k, v in raw.items() if v is not None}
        if "payments" not in raw:
            raw["payments"] = _empty(_DEFAULTS["payments"])
        clean, dq = validate_tables(raw, negative_invoices=negative_invoices)

        prior: list[Finding] = []
        if isinstance(quality, DataQuality):
            prior = list(quality.findings)
        elif quality:
            prior = list(quality)
        dq = DataQuality(
            findings=prior + list(dq.findings), reconciliation=dq.reconciliation
        )
        raise_for_fatal(dq.findings)
        return cls._assemble(
            clean, currency=currency, revalue=revalue, source=source, quality=dq
        )

    @classmethod
    def _assemble(
        cls,
        tables: dict[str, pd.DataFrame],
        *,
        currency: str | None,
        revalue: bool,
        source: str,
        quality: DataQuality,
    ) -> Ledger:
        """Fill defaults, link documents to invoices, convert currencies."""
        t = {name: _prepare(name, tables.get(name)) for name in _TABLE_NAMES}
        inv, pay, adj, act, cus, fx = (t[n] for n in _TABLE_NAMES)

        # currencies: decide the reporting currency before filling blanks
        rc = _reporting_currency(inv, pay, adj, fx, currency)
        inv["currency"] = inv["currency"].fillna(rc)

        # portfolio: invoice's own, else its customer's, else "unassigned"
        cust_portfolio = (
            cus.dropna(subset=["portfolio"])
            .drop_duplicates("customer_id")
            .set_index("customer_id")["portfolio"]
        )
        inv["portfolio"] = inv["portfolio"].fillna(
            inv["customer_id"].map(cust_portfolio)
        )
        inv["portfolio"] = inv["portfolio"].fillna(UNASSIGNED).astype(object)
        inv["disputed"] = inv["disputed"].fillna(False).astype(bool)
        inv["terms_days"] = (inv["due_date"] - inv["invoice_date"]).dt.days.astype(
            "int64"
        )
        inv = inv.reset_index(drop=True)

        # link payments and adjustments to invoices by position
        invoice_ids = inv["invoice_id"].to_numpy(dtype=object)
        for frame in (pay, adj):
            frame["inv_ix"] = _positions(frame["invoice_id"], invoice_ids)
            known = frame["inv_ix"].to_numpy() >= 0
            inv_cust = inv["customer_id"].to_numpy(dtype=object)
            inv_port = inv["portfolio"].to_numpy(dtype=object)
            inv_ccy = inv["currency"].to_numpy(dtype=object)
            ixv = frame["inv_ix"].to_numpy()
            cust = frame["customer_id"].to_numpy(dtype=object).copy()
            cust[known] = inv_cust[ixv[known]]
            frame["customer_id"] = cust
            port = pd.Series(np.full(len(frame), None, dtype=object), index=frame.index)
            port[known] = inv_port[ixv[known]]
            port = port.fillna(frame["customer_id"].map(cust_portfolio)).fillna(
                UNASSIGNED
            )
            frame["portfolio"] = port.astype(object)
            ccy = frame["currency"].to_numpy(dtype=object).copy()
            missing_ccy = pd.isna(ccy)
            fill = np.where(
                known, np.where(known, inv_ccy[np.clip(ixv, 0, None)], rc), rc
            )
            ccy[missing_ccy] = fill[missing_ccy]
            frame["currency"] = ccy
        act["inv_ix"] = _positions(act["invoice_id"], invoice_ids)
        act["portfolio"] = act["customer_id"].map(cust_portfolio).astype(object)
        inv_port_by_id = pd.Series(
            inv["portfolio"].to_numpy(), index=inv["customer_id"].to_numpy()
        )
        inv_port_by_id = inv_port_by_id[~inv_port_by_id.index.duplicated()]
        act["portfolio"] = act["portfolio"].fillna(
            act["customer_id"].map(inv_port_by_id)
        )
        act["portfolio"] = act["portfolio"].fillna(UNASSIGNED).astype(object)

        # FX: each document at the rate of its own date (latest on or before it)
        findings: list[Finding] = []
        inv["fx_rate"] = _rates_at(
            fx,
            inv["currency"],
            inv["invoice_date"],
            rc,
            "invoices",
            findings,
            rows=inv["row"].to_numpy(),
        )
        pay["fx_rate"] = _rates_at(
            fx,
            pay["currency"],
            pay["payment_date"],
            rc,
            "payments",
            findings,
            rows=pay["row"].to_numpy(),
        )
        adj["fx_rate"] = _rates_at(
            fx,
            adj["currency"],
            adj["date"],
            rc,
            "adjustments",
            findings,
            rows=adj["row"].to_numpy(),
        )
        raise_for_fatal(findings)

        inv["amount_rc"] = inv["amount"] * inv["fx_rate"]
        inv_ccy = inv["currency"].to_numpy(dtype=object)
        for frame, date_col in ((pay, "payment_date"), (adj, "date")):
            frame["amount_rc"] = frame["amount"] * frame["fx_rate"]
            ixv = frame["inv_ix"].to_numpy()
            own_ccy = np.where(ixv >= 0, inv_ccy[np.clip(ixv, 0, None)], None)
            other = (ixv >= 0) & (frame["currency"].to_numpy(dtype=object) != own_ccy)
            amount_doc = frame["amount"].to_numpy(dtype=float).copy()
            if other.any():
                # a document in another currency than its invoice: cross rate at its date
                sub = frame.loc[other]
                inv_rate = _rates_at(
                    fx,
                    pd.Series(own_ccy[other], index=sub.index),
                    sub[date_col],
                    rc,
                    "payments" if frame is pay else "adjustments",
                    findings,
                )
                raise_for_fatal(findings)
                amount_doc[other] = (
                    sub["amount"].to_numpy() * sub["fx_rate"].to_numpy() / inv_rate
                )
            frame["amount_doc"] = amount_doc

        overpaid = _find_overpaid(inv, pay, adj)
        if overpaid is not None:
            quality.findings.append(overpaid)

        led = cls(
            invoices=inv,
            payments=pay.reset_index(drop=True),
            adjustments=adj.reset_index(drop=True),
            activities=act.reset_index(drop=True),
            customers=cus.reset_index(drop=True),
            fx_rates=fx.reset_index(drop=True),
            currency=rc,
            quality=quality,
            source=source,
            revalue=revalue,
        )
        logger.info(
            "ledger %s: %d invoices, %d payments, %d adjustments, %d activities, "
            "currency %s",
            source,
            len(inv),
            len(pay),
            len(adj),
            len(act),
            rc,
        )
        return led

    # ------------------------------------------------------------- properties
    @property
    def portfolios(self) -> list[str]:
        """Sorted portfolio labels of the invoices."""
        return sorted(str(p) for p in self.invoices["portfolio"].unique())

    @property
    def data_start(self) -> pd.Timestamp | None:
        """Date of the first invoice (``None`` for an empty ledger)."""
        if self.invoices.empty:
            return None
        return pd.Timestamp(self.invoices["invoice_date"].min())

    @property
    def data_end(self) -> pd.Timestamp | None:
        """Date of the last event of any kind: the data's horizon.

        Outcomes after this date are unknown (right-censored).
        """
        dates = [
            self.invoices["invoice_date"].max(),
            self.payments["payment_date"].max() if len(self.payments) else pd.NaT,
            self.adjustments["date"].max() if len(self.adjustments) else pd.NaT,
            self.activities["date"].max() if len(self.activities) else pd.NaT,
        ]
        dates = [d for d in dates if pd.notna(d)]
        return pd.Timestamp(max(dates)) if dates else None

    @property
    def reconciliation(self) -> pd.DataFrame:
        """Rows and amounts read, used and set aside, per table."""
        return self.quality.reconciliation

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the clean tables: equal data gives an equal fingerprint."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for name in _TABLE_NAMES:
                frame = getattr(self, name)
                digest.update(name.encode())
                digest.update(str(len(frame)).encode())
                if len(frame):
                    cols = [c for c in frame.columns if c != "row"]
                    hashed = pd.util.hash_pandas_object(
                        frame[cols].astype(str), index=False
                    )
                    digest.update(hashed.to_numpy().tobytes())
            digest.update(self.currency.encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def __repr__(self) -> str:
        return (
            f"Ledger(source={self.source!r}, invoices={len(self.invoices)}, "
            f"payments={len(self.payments)}, adjustments={len(self.adjustments)}, "
            f"activities={len(self.activities)}, currency={self.currency!r}, "
            f"portfolios={self.portfolios!r})"
        )

    # ------------------------------------------------------------- as of
    def open_items(
        self, as_of: object, *, include_closed: bool = False
    ) -> pd.DataFrame:
        """Balance of every invoice dated on or before ``as_of``.

        Parameters
        ----------
        as_of : str, date or Timestamp
            Only invoices, payments and adjustments dated on or before it count.
        include_closed : bool, default=False
            Keep invoices whose balance is zero or negative (overpaid) too.

        Returns
        -------
        DataFrame
            One row per invoice: ``ix`` (position in :attr:`invoices`),
            ``invoice_id, customer_id, portfolio, invoice_date, due_date,
            terms_days, currency, amount, amount_rc, paid_doc, adjusted_doc,
            balance, balance_rc, days_past_due, in_dispute, last_payment_date``.
            ``balance`` is in the invoice's currency; ``balance_rc`` in the
            reporting currency. Without ``include_closed`` only balances above
            half a cent are kept.

        Notes
        -----
        balance = amount − payments − adjustments dated ≤ as_of. An overpaid
        invoice (balance < 0) is unapplied credit: see :meth:`unapplied_credit`.
        """
        ts = to_timestamp(as_of)
        inv = self.invoices
        n = len(inv)
        paid, last_paid = _applied(self.payments, "payment_date", ts, n)
        adjusted, _ = _applied(self.adjustments, "date", ts, n)
        balance = inv["amount"].to_numpy(dtype=float) - paid - adjusted

        dated = (inv["invoice_date"] <= ts).to_numpy()
        keep = dated if include_closed else dated & (balance > BALANCE_EPSILON)
        idx = np.flatnonzero(keep)

        out = inv.iloc[idx][
            [
                "invoice_id",
                "customer_id",
                "portfolio",
                "invoice_date",
                "due_date",
                "terms_days",
                "currency",
                "amount",
                "amount_rc",
            ]
        ].copy()
        out.insert(0, "ix", idx)
        out["paid_doc"] = paid[idx]
        out["adjusted_doc"] = adjusted[idx]
        out["balance"] = balance[idx]
        rate = self._balance_rates(ts)[idx]
        out["balance_rc"] = balance[idx] * rate
        out["days_past_due"] = (ts - out["due_date"]).dt.days.astype("int64")
        out["in_dispute"] = self._disputes_at(ts)[idx]
        out["last_payment_date"] = last_paid[idx]
        return out.reset_index(drop=True)

    def unapplied_credit(self, as_of: object) -> pd.DataFrame:
        """Credit not applied to an open invoice at ``as_of`` (amounts ≤ 0).

        Returns
        -------
        DataFrame
            ``customer_id, portfolio, source, amount_rc``; ``source`` is one of
            ``overpayment`` (an invoice paid beyond its amount),
            ``unknown_invoice_payment`` / ``unknown_invoice_adjustment`` (a
            document whose invoice is not in the ledger) and
            ``before_invoice`` (a payment or credit dated before its invoice was
            issued, when ``as_of`` falls between the two).
        """
        ts = to_timestamp(as_of)
        parts = []

        items = self.open_items(ts, include_closed=True)
        over = items[items["balance"] < -BALANCE_EPSILON]
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": over["customer_id"].to_numpy(dtype=object),
                    "portfolio": over["portfolio"].to_numpy(dtype=object),
                    "source": "overpayment",
                    "amount_rc": over["balance_rc"].to_numpy(dtype=float),
                }
            )
        )

        inv_dates = self.invoices["invoice_date"].to_numpy()
        inv_rate = self._balance_rates(ts)
        for frame, date_col, label in (
            (self.payments, "payment_date", "payment"),
            (self.adjustments, "date", "adjustment"),
        ):
            if frame.empty:
                continue
            dated = (frame[date_col] <= ts).to_numpy()
            ixv = frame["inv_ix"].to_numpy()
            unknown = dated & (ixv < 0)
            parts.append(
                pd.DataFrame(
                    {
                        "customer_id": frame["customer_id"].to_numpy(dtype=object)[
                            unknown
                        ],
                        "portfolio": frame["portfolio"].to_numpy(dtype=object)[unknown],
                        "source": f"unknown_invoice_{label}",
                        "amount_rc": -frame["amount_rc"].to_numpy(dtype=float)[unknown],
                    }
                )
            )
            safe = np.clip(ixv, 0, None)
            early = dated & (ixv >= 0) & (inv_dates[safe] > np.datetime64(ts))
            parts.append(
                pd.DataFrame(
                    {
                        "customer_id": frame["customer_id"].to_numpy(dtype=object)[
                            early
                        ],
                        "portfolio": frame["portfolio"].to_numpy(dtype=object)[early],
                        "source": "before_invoice",
                        "amount_rc": -(
                            frame["amount_doc"].to_numpy(dtype=float) * inv_rate[safe]
                        )[early],
                    }
                )
            )
        out = pd.concat(parts, ignore_index=True)
        out = out[out["amount_rc"] != 0]
        return out.reset_index(drop=True)

    def receipts(self, start: object = None, end: object = None) -> pd.DataFrame:
        """Payments received with ``start <= payment_date <= end`` (cash in).

        Includes payments for unknown invoices: they are cash all the same.
        """
        pay = self.payments
        mask = np.ones(len(pay), dtype=bool)
        if start is not None:
            mask &= (pay["payment_date"] >= to_timestamp(start, "start")).to_numpy()
        if end is not None:
            mask &= (pay["payment_date"] <= to_timestamp(end, "end")).to_numpy()
        return pay.loc[mask].reset_index(drop=True)

    def subset(
        self,
        portfolio: str | Iterable[str] | None = None,
        customer_ids: Iterable[str] | None = None,
    ) -> Ledger:
        """The part of the ledger that belongs to some portfolios or customers.

        Payments and adjustments follow their invoice; documents for unknown
        invoices follow their own ``portfolio``/``customer_id``.

        Raises
        ------
        DataError
            If a portfolio is not in the data (the message lists those that are).
        """
        inv_mask = np.ones(len(self.invoices), dtype=bool)
        row_filters: list[tuple[str, set]] = []
        if portfolio is not None:
            wanted = {portfolio} if isinstance(portfolio, str) else set(portfolio)
            unknown = wanted - set(self.portfolios)
            if unknown:
                raise DataError(
                    f"portfolio {sorted(unknown)!r} is not in the data; "
                    f"choose from {self.portfolios!r}."
                )
            inv_mask &= self.invoices["portfolio"].isin(wanted).to_numpy()
            row_filters.append(("portfolio", wanted))
        if customer_ids is not None:
            ids = set(customer_ids)
            inv_mask &= self.invoices["customer_id"].isin(ids).to_numpy()
            row_filters.append(("customer_id", ids))

        new_pos = np.full(len(self.invoices), -1, dtype=np.int64)
        new_pos[inv_mask] = np.arange(int(inv_mask.sum()))

        def docs(frame: pd.DataFrame) -> pd.DataFrame:
            ixv = frame["inv_ix"].to_numpy()
            keep = np.where(ixv >= 0, inv_mask[np.clip(ixv, 0, None)], True)
            orphan = ixv < 0
            for col, values in row_filters:
                keep &= ~orphan | frame[col].isin(values).to_numpy()
            out = frame.loc[keep].copy()
            old = out["inv_ix"].to_numpy()
            out["inv_ix"] = np.where(old >= 0, new_pos[np.clip(old, 0, None)], -1)
            return out.reset_index(drop=True)

        act = self.activities
        act_keep = np.ones(len(act), dtype=bool)
        for col, values in row_filters:
            act_keep &= act[col].isin(values).to_numpy()
        act = act.loc[act_keep].copy()
        old = act["inv_ix"].to_numpy()
        act["inv_ix"] = np.where(old >= 0, new_pos[np.clip(old, 0, None)], -1)

        cus = self.customers
        kept_customers = set(self.invoices.loc[inv_mask, "customer_id"])
        cus = cus[cus["customer_id"].isin(kept_customers)]
        return Ledger(
            invoices=self.invoices.loc[inv_mask].reset_index(drop=True),
            payments=docs(self.payments),
            adjustments=docs(self.adjustments),
            activities=act.reset_index(drop=True),
            customers=cus.reset_index(drop=True),
            fx_rates=self.fx_rates,
            currency=self.currency,
            quality=self.quality,
            source=self.source,
            revalue=self.revalue,
        )

    # ------------------------------------------------------------- internals
    def _balance_rates(self, ts: pd.Timestamp) -> np.ndarray:
        """Rate that converts each invoice's balance: its own date, or as_of."""
        if not self.revalue:
            return self.invoices["fx_rate"].to_numpy(dtype=float)
        findings: list[Finding] = []
        dates = pd.Series(ts, index=self.invoices.index)
        rates = _rates_at(
            self.fx_rates,
            self.invoices["currency"],
            dates,
            self.currency,
            "invoices",
            findings,
        )
        raise_for_fatal(findings)
        return rates

    def _disputes_at(self, ts: pd.Timestamp) -> np.ndarray:
        """Whether each invoice is in dispute at ``ts``.

        Invoices with dispute activities follow them (open from
        ``dispute_opened`` until a later ``dispute_resolved``); the others keep
        their static ``disputed`` flag.
        """
        flags = self.invoices["disputed"].to_numpy(dtype=bool).copy()
        act = self.activities
        if act.empty:
            return flags
        events = act[
            act["kind"].isin(["dispute_opened", "dispute_resolved"]).to_numpy()
            & (act["inv_ix"].to_numpy() >= 0)
        ]
        if events.empty:
            return flags
        tracked = np.unique(events["inv_ix"].to_numpy())
        flags[tracked] = False
        known = events[events["date"] <= ts]
        if len(known):
            # resolved sorts after opened on the same day
            order = known.assign(
                _k=(known["kind"] == "dispute_resolved").astype(int)
            ).sort_values(["date", "_k"], kind="mergesort")
            last = order.groupby("inv_ix", sort=False)["kind"].last()
            flags[last.index.to_numpy()] = (last == "dispute_opened").to_numpy()
        return flags


# ----------------------------------------------------------------- helpers
def _prepare(name: str, frame: pd.DataFrame | None) -> pd.DataFrame:
    """A copy of a clean table with every canonical column present."""
    from arforecast.schema import TABLES

    out = _empty(_DEFAULTS[name]) if frame is None else frame.copy()
    for col, (kind, _required) in TABLES[name].items():
        if col not in out.columns:
            out[col] = pd.Series(
                np.nan if kind in ("amount", "float", "int") else None,
                index=out.index,
                dtype="float64" if kind in ("amount", "float", "int") else object,
            )
            if kind == "date":
                out[col] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
            if kind == "bool":
                out[col] = pd.Series(False, index=out.index, dtype=bool)
    for col, (kind, _required) in TABLES[name].items():
        if kind == "str":
            out[col] = _as_str(out[col])
        elif kind == "date":
            out[col] = _as_datetime(out[col])
        elif kind in ("amount", "float"):
            out[col] = pd.to_numeric(out[col]).astype("float64")
    if name == "payments":
        missing = out["payment_id"].isna()
        if missing.any():
            numbers = (np.flatnonzero(missing) + 1).astype(str)
            out.loc[missing, "payment_id"] = np.char.add("P", numbers).astype(object)
    if "row" not in out.columns:
        out["row"] = np.arange(len(out), dtype=np.int64) + 2
    if name in ("payments", "adjustments") and "customer_id" not in out.columns:
        out["customer_id"] = None
    if name == "adjustments" and "currency" not in out.columns:
        out["currency"] = None
    return out.reset_index(drop=True)


def _reporting_currency(
    inv: pd.DataFrame,
    pay: pd.DataFrame,
    adj: pd.DataFrame,
    fx: pd.DataFrame,
    currency: str | None,
) -> str:
    if currency:
        return str(currency).upper()
    seen = set(inv["currency"].dropna()) | set(pay["currency"].dropna())
    seen |= set(adj["currency"].dropna())
    if not seen:
        return UNSPECIFIED_CURRENCY
    if len(seen) == 1:
        return next(iter(seen))
    without_rate = sorted(seen - set(fx["currency"].dropna()))
    if len(without_rate) == 1:
        return without_rate[0]
    if not without_rate:
        raise DataError(
            f"the data has several currencies {sorted(seen)!r} and fx_rates has "
            "rates for all of them, so the reporting currency cannot be inferred; "
            "say which one to report in with currency=... (or --currency CODE)."
        )
    rated = sorted(seen - set(without_rate))
    rated_text = f" (it has rates for {', '.join(rated)})" if rated else ""
    raise DataError(
        f"the data has several currencies {sorted(seen)!r}; fx_rates has no rates "
        f"for {', '.join(without_rate)}{rated_text}. The reporting currency is the "
        "one without rates, so only one may lack them: add fx_rates rows for the "
        f"others, or say which one to report in with --currency CODE (then a "
        "currency without a rate is named with its first row)."
    )


def _rates_at(
    fx: pd.DataFrame,
    currencies: pd.Series,
    dates: pd.Series,
    reporting: str,
    table: str,
    findings: list[Finding],
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Latest rate on or before each date, per currency; 1 for the reporting one.

    A document whose currency has no rate on or before its date adds one fatal
    finding per currency (naming it and the first such date); it never
    defaults to 1.
    """
    ccy = currencies.to_numpy(dtype=object)
    rates = np.ones(len(ccy), dtype=float)
    foreign = ccy != reporting
    if not foreign.any():
        return rates
    left = pd.DataFrame(
        {
            "_pos": np.flatnonzero(foreign),
            "currency": ccy[foreign].astype(str),
            "date": pd.to_datetime(dates.to_numpy()[foreign]).astype("datetime64[ns]"),
        }
    ).sort_values("date", kind="mergesort")
    right = fx[["date", "currency", "rate"]].dropna().copy()
    right["currency"] = right["currency"].astype(str)
    right["date"] = right["date"].astype("datetime64[ns]")
    right = right.sort_values("date", kind="mergesort")
    merged = pd.merge_asof(left, right, on="date", by="currency", direction="backward")
    got = merged["rate"].to_numpy(dtype=float)
    rates[merged["_pos"].to_numpy()] = got
    missing = merged[np.isnan(got)]
    for code, grp in missing.groupby("currency", sort=True):
        first = grp["date"].min()
        findings.append(
            Finding(
                severity="fatal",
                code="missing_fx_rate",
                table=table,
                rows=tuple(
                    int(r)
                    for r in (
                        rows[np.sort(grp["_pos"].to_numpy())]
                        if rows is not None
                        else np.sort(grp["_pos"].to_numpy()) + 2
                    )
                ),
                column="currency",
                value=str(code),
                message=(
                    f"no FX rate for {code} on or before {first:%Y-%m-%d} "
                    f"({len(grp)} document(s)); add {code} rates to fx_rates "
                    f"(units of {reporting} per {code}) dated on or before that day."
                ),
            )
        )
    return rates


def _positions(ids: pd.Series, invoice_ids: np.ndarray) -> np.ndarray:
    """Position of each id in ``invoice_ids`` (``-1`` where absent or blank).

    Uses Arrow's hash lookup, several times faster than a pandas object index
    on a million ids.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    found = pc.index_in(
        pa.array(ids.to_numpy(dtype=object), type=pa.string()),
        value_set=pa.array(invoice_ids, type=pa.string()),
    )
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _find_overpaid(
    inv: pd.DataFrame, pay: pd.DataFrame, adj: pd.DataFrame
) -> Finding | None:
    """One warning for the invoices whose payments and credits exceed them."""
    n = len(inv)
    applied = np.zeros(n)
    for frame in (pay, adj):
        ixv = frame["inv_ix"].to_numpy()
        known = ixv >= 0
        applied += np.bincount(
            ixv[known], weights=frame["amount_doc"].to_numpy()[known], minlength=n
        )
    excess = applied - inv["amount"].to_numpy(dtype=float)
    over = np.flatnonzero(excess > BALANCE_EPSILON)
    if not len(over):
        return None
    return Finding(
        severity="warning",
        code="overpayment",
        table="invoices",
        rows=tuple(int(r) for r in inv["row"].to_numpy()[over]),
        column="invoice_id",
        value=str(inv["invoice_id"].iloc[over[0]]),
        message=(
            f"{len(over)} invoice(s) (first: {inv['invoice_id'].iloc[over[0]]}, "
            f"excess {excess[over[0]]:,.2f}) received payments and credits beyond their "
            f"amount (excess {excess[over].sum():,.2f} in document currency); the "
            "excess is kept as unapplied credit. Check for duplicate payments or "
            "apply the excess to the customer's other invoices."
        ),
        amount=float(excess[over].sum()),
    )


def _applied(
    frame: pd.DataFrame, date_col: str, ts: pd.Timestamp, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per invoice: sum of ``amount_doc`` dated ≤ ts, and the last such date."""
    last = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if frame.empty or n == 0:
        return np.zeros(n), last
    ixv = frame["inv_ix"].to_numpy()
    dates = frame[date_col].to_numpy()
    mask = (ixv >= 0) & (dates <= np.datetime64(ts))
    total = np.bincount(
        ixv[mask], weights=frame["amount_doc"].to_numpy()[mask], minlength=n
    )
    if mask.any():
        # last date per invoice: int64 view with NaT as the minimum
        as_int = dates[mask].astype("datetime64[ns]").view("int64")
        acc = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(acc, ixv[mask], as_int)
        seen = acc != np.iinfo(np.int64).min
        last[seen] = acc[seen].view("datetime64[ns]")
    return total, last
