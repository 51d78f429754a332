"""Tests for params loading: keys, paths, dates, e-mail settings, env overrides."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from arforecast.config import RunConfig, load_params, month_ends
from arforecast.exceptions import ConfigError


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A repo-like folder: params/, notebooks/ with one template, data/ with a CSV."""
    (tmp_path / "params").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "review.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "invoices.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "data" / "map.yaml").write_text("x: 1\n", encoding="utf-8")
    return tmp_path


def write_params(project: Path, text: str) -> Path:
    path = project / "params" / "run.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


BASE = """\
run: monthly
data: ../data
as_of: [2025-11-30, 2025-12-31]
notebooks: [review]
"""


def test_minimal_params_load_with_defaults_and_absolute_paths(project: Path) -> None:
    config = load_params(write_params(project, BASE), env={})

    assert isinstance(config, RunConfig)
    assert config.data == (project / "data").resolve()
    assert config.notebooks == ((project / "notebooks" / "review.ipynb").resolve(),)
    assert config.as_of == ("2025-11-30", "2025-12-31")
    assert all(isinstance(d, str) for d in config.as_of)
    assert config.portfolios == ("all",)
    assert config.horizons == (7, 14, 30, 60, 90)
    assert config.weeks == 13 and config.window_days is None
    assert 1 <= config.workers <= 2
    assert config.email.enabled is False


def test_relative_mapping_file_and_output_resolve_against_the_params_folder(
    project: Path,
) -> None:
    text = BASE + "mapping: ../data/map.yaml\noutput: ../out\n"
    config = load_params(write_params(project, text), env={})

    assert config.mapping == str((project / "data" / "map.yaml").resolve())
    assert config.output == (project / "out").resolve()
    assert config.run_dir == (project / "out" / "monthly").resolve()


def test_mapping_profile_name_stays_a_name(project: Path) -> None:
    config = load_params(write_params(project, BASE + "mapping: ibm_late_payments\n"))

    assert config.mapping == "ibm_late_payments"


def test_unknown_top_level_key_is_rejected_with_a_suggestion(project: Path) -> None:
    path = write_params(project, BASE + "horizon: [7]\n")

    with pytest.raises(
        ConfigError, match=r"unknown key `horizon`; did you mean `horizons`"
    ):
        load_params(path)


def test_unknown_nested_key_lists_valid_keys(project: Path) -> None:
    text = BASE + "email:\n  smtp:\n    hots: mail.example.com\n"

    with pytest.raises(
        ConfigError, match=r"email\.smtp: unknown key `hots`.*Valid keys: host"
    ):
        load_params(write_params(project, text))


def test_literal_password_is_rejected_pointing_to_password_env(project: Path) -> None:
    text = BASE + "email:\n  smtp:\n    host: mail.example.com\n    password: hunter2\n"

    with pytest.raises(ConfigError, match=r"never put a password.*password_env"):
        load_params(write_params(project, text))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "{month_ends: {start: 2013-01-31, end: 2013-06-30}}",
            [
                "2013-01-31",
                "2013-02-28",
                "2013-03-31",
                "2013-04-30",
                "2013-05-31",
                "2013-06-30",
            ],
        ),
        ("{month_ends: {end: 2025-12-31, count: 2}}", ["2025-11-30", "2025-12-31"]),
        ("{month_ends: {end: 2024-03-15, count: 2}}", ["2024-02-29", "2024-03-31"]),
    ],
    ids=["start-end", "count", "leap-year"],
)
def test_month_ends_expand(project: Path, spec: str, expected: list[str]) -> None:
    text = BASE.replace("as_of: [2025-11-30, 2025-12-31]", f"as_of: {spec}")

    assert list(load_params(write_params(project, text)).as_of) == expected


def test_month_ends_needs_start_or_count() -> None:
    with pytest.raises(ConfigError, match=r"exactly one of `start` or `count`"):
        month_ends(end="2025-12-31")


def test_bad_date_is_rejected(project: Path) -> None:
    text = BASE.replace("2025-11-30", "2025-13-01")

    with pytest.raises(ConfigError, match=r"as_of: expected an ISO date.*2025-13-01"):
        load_params(write_params(project, text))


def test_missing_notebook_suggests_available_templates(project: Path) -> None:
    text = BASE.replace("[review]", "[reviw]")

    with pytest.raises(
        ConfigError, match=r"available: \[.*'review'.*\]; did you mean `review`"
    ):
        load_params(write_params(project, text))


def test_portfolios_combine_tokens_and_names(project: Path) -> None:
    config = load_params(write_params(project, BASE + "portfolios: [all, each, 391]\n"))

    assert config.portfolios == ("all", "each", "391")


def test_email_settings_parse(project: Path) -> None:
    text = BASE + textwrap.dedent(
        """\
        email:
          enabled: true
          from: ar@example.com
          subject: "AR {run} {as_of} ({list})"
          recipients:
            - {name: cfo, to: [cfo@example.com], cc: [ctl@example.com]}
            - {name: emea, to: [emea@example.com], portfolios: [EMEA]}
          smtp: {host: mail.example.com, security: ssl, username_env: U, password_env: P}
        """
    )
    email = load_params(write_params(project, text), env={}).email

    assert email.enabled and email.sender == "ar@example.com"
    assert [r.name for r in email.recipients] == ["cfo", "emea"]
    assert email.recipients[0].cc == ("ctl@example.com",)
    assert email.recipients[0].portfolios is None
    assert email.recipients[1].portfolios == ("EMEA",)
    assert email.smtp.effective_port == 465
    assert email.smtp.password_env == "P"


def test_subject_with_unknown_field_is_rejected(project: Path) -> None:
    text = BASE + "email:\n  subject: 'AR {date}'\n"

    with pytest.raises(ConfigError, match=r"not a valid template.*\{run\}, \{as_of\}"):
        load_params(write_params(project, text))


def test_environment_overrides_win_over_the_file(project: Path, tmp_path: Path) -> None:
    path = write_params(project, BASE + "workers: 1\n")
    env = {"ARFORECAST_WORKERS": "3", "ARFORECAST_OUTPUT": str(tmp_path / "elsewhere")}

    config = load_params(path, env=env)

    assert config.workers == 3
    assert config.output == tmp_path / "elsewhere"


def test_bad_environment_override_is_reported(project: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"workers must be a positive integer; got 'many'"
    ):
        load_params(write_params(project, BASE), env={"ARFORECAST_WORKERS": "many"})


def test_data_may_be_missing_at_load_time(project: Path) -> None:
    text = BASE.replace("../data", "../sample_data")

    config = load_params(write_params(project, text))

    assert config.data == (project / "sample_data").resolve()


def test_shipped_params_files_load() -> None:
    root = Path(__file__).resolve().parents[1]
    if not (root / "notebooks" / "executive_summary.ipynb").exists():
        pytest.skip("the report notebooks are not in notebooks/ yet")
    demo = load_params(root / "params" / "demo.yaml", env={})
    ibm = load_params(root / "params" / "ibm_sample.yaml", env={})

    assert demo.as_of == ("2025-11-30", "2025-12-31")
    assert demo.data == root / "sample_data"
    assert demo.email.enabled and len(demo.email.recipients) == 2
    assert ibm.mapping == "ibm_late_payments" and ibm.portfolios == ("each",)
    assert ibm.data.name == "WA_Fn-UseC_-Accounts-Receivable.csv"
