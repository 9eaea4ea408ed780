"""Tests of the Markdown and HTML renderings of the report's analysis section."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from models.report_render import analysis_html, analysis_markdown, write_html

SECTIONS = [
    "Overall",
    "Classification at the decision threshold",
    "Where to work",
    "Exposure by restaurant segment",
    "Slices found by SliceLine",
    "Audits",
    "Current vs previous model per segment",
]
SVG_NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'


def _segment(
    name: str, users: int, share: float | None, small: bool, **fields: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "entity": "user",
        "description": f"Users of {name}.",
        "users": users,
        "share_of_users": share,
        "small": small,
        **fields,
    }


def _ndcg(value: float | None, low: float | None, high: float | None) -> dict[str, Any]:
    return {"ndcg@10": value, "ci": [low, high]}


OVERALL_REFERENCE = {
    "kind": "overall",
    "name": "lightgbm_ranker overall",
    "value": 0.6954,
}
REPORT: dict[str, Any] = {
    "created_at": "2026-12-05T01:00:00+00:00",
    "split_kind": "temporal",
    "relevance": "any order",
    "splits": [
        {"seed": 0, "test_from": "2024-04-24T00:00:00+00:00", "test_users": 2408},
        {"seed": 1, "test_from": "2024-04-17T00:00:00+00:00", "test_users": 2520},
    ],
    "analysis": {
        "k": 10,
        "test_users": 2408,
        "current": "lightgbm_ranker",
        "previous": "ranker_v1",
        "best_baseline": "item_knn",
        "models": {
            "lightgbm_ranker": {"role": "current", "feature_service": "ranker_v2"},
            "ranker_v1": {"role": "previous", "feature_service": "ranker_v1"},
            "item_knn": {"role": "baseline"},
        },
        "overall": {
            "lightgbm_ranker": {
                "ndcg@10": 0.6954,
                "ndcg@10_ci": [0.684, 0.707],
                "recall@10": 0.71,
                "precision@10": 0.12,
                "map@10": 0.61,
                "mrr@10": 0.70,
                "hit_rate@10": 0.85,
                "coverage": 0.93,
                "popularity_bias": 0.71,
                "novelty": 6.2,
            },
            "ranker_v1": {
                "ndcg@10": 0.6901,
                "ndcg@10_ci": [0.679, 0.702],
                "recall@10": 0.70,
                "precision@10": 0.12,
                "map@10": 0.60,
                "mrr@10": 0.69,
                "hit_rate@10": 0.84,
                "coverage": 0.90,
                "popularity_bias": 0.74,
                "novelty": 6.0,
            },
            "item_knn": {
                "ndcg@10": 0.6617,
                "ndcg@10_ci": [0.650, 0.673],
                "recall@10": None,
                "precision@10": 0.11,
                "map@10": 0.58,
                "mrr@10": 0.66,
                "hit_rate@10": 0.82,
                "coverage": 0.81,
                "popularity_bias": 0.78,
                "novelty": 5.7,
            },
        },
        "classification": {
            "lightgbm_ranker": {
                "decision": "recommended in the top 10",
                "tp": 2800,
                "fp": 21280,
                "fn": 1150,
                "tn": 650000,
                "precision": 0.116,
                "recall": 0.709,
                "f1": 0.2,
                "false_positive_rate": 0.0317,
                "false_negative_rate": 0.291,
                "accuracy": 0.97,
            }
        },
        "segments": [
            _segment(
                "light_users",
                196,
                0.0814,
                False,
                share_of_errors=0.21,
                error_rate=0.38,
                metrics={
                    "lightgbm_ranker": _ndcg(0.4292, 0.38, 0.48),
                    "ranker_v1": _ndcg(0.41, 0.36, 0.46),
                    "item_knn": _ndcg(0.3801, 0.33, 0.43),
                },
                best_baseline="item_knn",
                reference=OVERALL_REFERENCE,
                room=0.2662,
                potential_gain=0.0217,
                warning=None,
            ),
            _segment(
                "<b>&",
                40,
                0.0166,
                False,
                share_of_errors=0.02,
                error_rate=0.2,
                metrics={
                    "lightgbm_ranker": _ndcg(0.6, 0.5, 0.7),
                    "ranker_v1": _ndcg(0.58, 0.48, 0.68),
                    "item_knn": _ndcg(0.55, 0.45, 0.65),
                },
                best_baseline="item_knn",
                reference=OVERALL_REFERENCE,
                room=0.0954,
                potential_gain=0.0016,
                warning=None,
            ),
            _segment(
                "pizza_only",
                12,
                0.005,
                True,
                share_of_errors=0.004,
                error_rate=0.1,
                metrics={
                    "lightgbm_ranker": _ndcg(0.80, 0.6, 0.95),
                    "ranker_v1": _ndcg(0.78, 0.55, 0.93),
                    "item_knn": _ndcg(0.83, 0.65, 0.97),
                },
                best_baseline="item_knn",
                reference={"kind": "baseline", "name": "item_knn", "value": 0.83},
                room=0.03,
                potential_gain=0.00015,
                warning="12 users: fewer than 30, the interval is wide",
            ),
            _segment(
                "age_band=55+",
                0,
                0.0,
                True,
                share_of_errors=0.0,
                error_rate=None,
                metrics={
                    "lightgbm_ranker": _ndcg(None, None, None),
                    "ranker_v1": _ndcg(None, None, None),
                    "item_knn": _ndcg(None, None, None),
                },
                best_baseline="item_knn",
                reference=OVERALL_REFERENCE,
                room=None,
                potential_gain=None,
                warning="no users in the test window",
            ),
        ],
        "exposure": [
            {
                "segment": "small_independents",
                "restaurants": 120,
                "share_of_orders": 0.18,
                "share_of_exposure": {
                    "lightgbm_ranker": 0.12,
                    "ranker_v1": 0.10,
                    "item_knn": None,
                },
            },
            {
                "segment": "chains",
                "restaurants": 1060,
                "share_of_orders": 0.40,
                "share_of_exposure": {
                    "lightgbm_ranker": 0.45,
                    "ranker_v1": 0.47,
                    "item_knn": 0.5,
                },
            },
        ],
        "slices": [
            {
                "description": "orders_before < 3 and city = Lisbon",
                "conditions": {"orders_before": "< 3", "city": "Lisbon"},
                "size": 140,
                "error": 0.71,
                "overall_error": 0.30,
                "score": 1.2,
            }
        ],
        "audits": [
            {
                "name": "vegetarian_meat_only",
                "metric": "meat_only_share@10",
                "segment": "vegetarians",
                "threshold": 0.02,
                "direction": "max",
                "owner": "ranking",
                "signed_off": False,
                "value": 0.013,
                "status": "passed",
                "message": "audit vegetarian_meat_only passed",
            },
            {
                "name": "favourite_kept",
                "metric": "favourite_recall@10",
                "segment": "has_favourite",
                "threshold": 0.9,
                "direction": "min",
                "owner": "ranking",
                "signed_off": True,
                "value": 0.87,
                "status": "failed",
                "message": "audit favourite_kept failed",
            },
            {
                "name": "cold_start_vs_popularity",
                "metric": "ndcg_minus_popularity",
                "segment": "cold_start",
                "threshold": 0.0,
                "direction": "min",
                "owner": "ranking",
                "signed_off": False,
                "value": None,
                "status": "not_measured",
                "message": "audit cold_start_vs_popularity not measured",
            },
            {
                "name": "small_independents_exposure",
                "metric": "exposure_ratio",
                "segment": "small_independents",
                "threshold": 0.8,
                "direction": "min",
                "owner": "data",
                "signed_off": False,
                "value": 0.6667,
                "status": "failed",
                "message": "audit small_independents_exposure failed",
            },
        ],
        "comparison": {
            "current": "lightgbm_ranker",
            "previous": "ranker_v1",
            "metric": "ndcg@10",
            "rows": [
                {
                    "segment": "all",
                    "users": 2408,
                    "current": 0.6954,
                    "previous": 0.6901,
                    "difference": 0.0053,
                    "meat_only_share@10": {"current": None, "previous": None},
                },
                {
                    "segment": "vegetarians",
                    "users": 150,
                    "current": 0.55,
                    "previous": 0.47,
                    "difference": 0.08,
                    "meat_only_share@10": {"current": 0.013, "previous": 0.19},
                },
            ],
        },
    },
}


class _TableReader(HTMLParser):
    """Collect the text of every table cell, grouped by the preceding <h2>."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[list[str]]]] = {}
        self._heading: str | None = None
        self._section = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._heading = ""
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr":
            self.tables[self._section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._heading is not None:
            self._section, self._heading = self._heading, None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._section][-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading += data
        elif self._cell is not None:
            self._cell.append(data)


def _html_table(page: str, section: str, index: int = -1) -> list[list[str]]:
    """Return the rows of one table of a section, header row first."""
    reader = _TableReader()
    reader.feed(page)
    return reader.tables[section][index]


def _markdown_section(text: str, section: str) -> str:
    return text.split(f"### {section}\n", 1)[1].split("\n### ", 1)[0]


def _markdown_table(text: str, section: str, index: int = -1) -> list[list[str]]:
    """Return the rows of one table of a section, header row first."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in _markdown_section(text, section).splitlines():
        if line.startswith("| "):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line[2:-2].split(" | "))
        previous = line
    return [row for row in tables[index] if set(row) != {"---"}]


@pytest.fixture(scope="module")
def markdown() -> str:
    return analysis_markdown(REPORT)


@pytest.fixture(scope="module")
def page() -> str:
    return analysis_html(REPORT)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the page that write_html wrote over an older report.html."""
    reports_dir = tmp_path_factory.mktemp("reports")
    (reports_dir / "report.html").write_text("old page", encoding="utf-8")
    return write_html(copy.deepcopy(REPORT), reports_dir)


def test_markdown_has_every_section(markdown: str) -> None:
    for section in SECTIONS:
        assert markdown.count(f"\n### {section}\n") == 1, section


def test_html_has_every_section(page: str) -> None:
    for section in SECTIONS:
        assert page.count(f"<h2>{section}</h2>") == 1, section


def test_prioritisation_keeps_input_order(markdown: str, page: str) -> None:
    markdown_rows = _markdown_table(markdown, "Where to work")[1:]
    html_rows = _html_table(page, "Where to work")[1:]
    # Markdown escapes "<" before a letter, so "<b>&" reads "\<b>&" in the source.
    assert [row[0] for row in markdown_rows] == [
        "light_users",
        "\\<b>&",
        "pizza_only†",
        "age_band=55+†",
    ]
    assert [row[0] for row in html_rows] == [
        "light_users",
        "<b>&",
        "pizza_only†",
        "age_band=55+†",
    ]
    # Column 8 names the reference: "overall" or the baseline that sets it.
    references = ["overall", "overall", "item_knn", "overall"]
    assert [row[8] for row in markdown_rows] == references
    assert [row[8] for row in html_rows] == references


def test_prioritisation_formats_cells(page: str) -> None:
    light_users = _html_table(page, "Where to work")[1]
    # 0.0814 -> 8.1% and 0.21 -> 21.0%. Values and bounds have 4 decimals.
    assert light_users == [
        "light_users",
        "196",
        "8.1%",
        "21.0%",
        "0.3800",
        "0.4292 [0.3800, 0.4800]",
        "item_knn: 0.3801 [0.3300, 0.4300]",
        "0.4100 [0.3600, 0.4600]",
        "overall",
        "0.6954",
        "0.2662",
        "0.0217",
    ]


def test_small_segment_marked_with_warning(markdown: str, page: str) -> None:
    notes = [
        line
        for line in _markdown_section(markdown, "Where to work").splitlines()
        if line.startswith("- ")
    ]
    assert notes == [
        "- † marks a small segment: its interval is wide.",
        "- pizza_only†: 12 users: fewer than 30, the interval is wide",
        "- age_band=55+†: no users in the test window",
    ]
    assert "<li>pizza_only†: 12 users: fewer than 30, the interval is wide</li>" in page
    assert "light_users†" not in markdown
    assert "light_users†" not in page


def test_null_renders_as_dash(markdown: str, page: str) -> None:
    for rows in (
        _markdown_table(markdown, "Where to work"),
        _html_table(page, "Where to work"),
    ):
        empty = rows[4]
        assert empty[0] == "age_band=55+†"
        assert empty[4] == "—"  # error rate
        assert empty[5] == "—"  # NDCG@10 of the current model
        assert empty[6] == "item_knn: —"
        assert empty[7] == "—"  # previous model
        assert empty[10] == "—"  # room
        assert empty[11] == "—"  # potential gain
    for rows in (_markdown_table(markdown, "Overall"), _html_table(page, "Overall")):
        assert rows[3][:4] == ["item_knn", "baseline", "0.6617 [0.6500, 0.6730]", "—"]
    for rows in (
        _markdown_table(markdown, "Current vs previous model per segment"),
        _html_table(page, "Current vs previous model per segment"),
    ):
        # 0.0053 -> +0.0053, 0.013 -> 1.3% and 0.19 -> 19.0%.
        assert rows[1] == ["all", "2,408", "0.6954", "0.6901", "+0.0053", "—", "—"]
        assert rows[2][4:] == ["+0.0800", "1.3%", "19.0%"]
    exposure = _html_table(page, "Exposure by restaurant segment")
    assert exposure[1] == ["small_independents", "120", "18.0%", "12.0%", "10.0%", "—"]
    assert exposure[2][:2] == ["chains", "1,060"]


def test_audit_rows_show_direction(page: str) -> None:
    rows = _html_table(page, "Audits")
    # Columns: name, status, metric, segment, value, threshold, owner, signed off.
    assert rows[1][:8] == [
        "vegetarian_meat_only",
        "passed",
        "meat_only_share@10",
        "vegetarians",
        "0.0130",
        "<= 0.0200",
        "ranking",
        "no",
    ]
    assert rows[2][4:8] == ["0.8700", ">= 0.9000", "ranking", "yes"]
    assert rows[3][1] == "not measured"
    assert rows[3][4:6] == ["—", ">= 0.0000"]


def test_audit_numbers_far_from_one_readable() -> None:
    report = copy.deepcopy(REPORT)
    audit = report["analysis"]["audits"][0]
    audit["threshold"] = 1e300
    audit["value"] = 0.00003

    markdown = analysis_markdown(report)
    page = analysis_html(report)

    for rows in (_markdown_table(markdown, "Audits"), _html_table(page, "Audits")):
        assert rows[1][4:6] == ["3e-05", "<= 1e+300"]


def test_summary_names_failed_audits(markdown: str, page: str) -> None:
    summary = "2 of 4 audits failed: favourite_kept, small_independents_exposure."
    assert re.findall(r"\d+ of \d+ audits failed[^\n<]*", page) == [summary]
    assert re.findall(r"\d+ of \d+ audits failed[^\n]*", markdown) == [summary]
    # The summary comes before the first section.
    assert page.index(summary) < page.index("<h2>")
    assert "1 of 4 audits not measured: cold_start_vs_popularity." in page


def test_accuracy_caveat_counts(markdown: str) -> None:
    # Relevant: tp + fn = 2800 + 1150 = 3950 of 2800 + 21280 + 1150 + 650000 =
    # 675230, 0.585% -> 0.6%. Recommending nothing: (21280 + 650000) / 675230
    # = 99.415% -> 99.4%.
    section = _markdown_section(markdown, "Classification at the decision threshold")
    assert "(3,950 of 675,230, 0.6%)" in section
    assert "an accuracy of 99.4%." in section
    assert _markdown_table(markdown, "Classification at the decision threshold", 0)[
        1:
    ] == [["yes", "2,800", "1,150"], ["no", "21,280", "650,000"]]


def test_html_links_only_svg_namespace(page: str) -> None:
    svg_tags = re.findall(r"<svg\b[^>]*>", page)
    assert len(svg_tags) == 4
    for tag in svg_tags:
        assert tag.count(SVG_NAMESPACE) == 1
    assert page.count(SVG_NAMESPACE) == 4
    rest = page.replace(SVG_NAMESPACE, "")
    assert "http://" not in rest
    assert "https://" not in rest


def test_html_is_self_contained(page: str) -> None:
    assert page.count("<svg") == 4
    assert page.count("</svg>") == 4
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "<?xml" not in page
    assert "<!DOCTYPE svg" not in page


def test_svg_ids_unique(page: str) -> None:
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    references = re.findall(r'href="#([^"]+)"|url\(#([^)]+)\)', page)
    assert references
    for reference in references:
        assert "".join(reference) in ids


def test_html_escapes_segment_name(page: str) -> None:
    assert "<td>&lt;b&gt;&amp;</td>" in page
    assert "<b>" not in page
    assert "<b>&" not in page


@pytest.mark.parametrize(
    ("kept", "style"),
    [
        ({"passed", "failed", "not_measured"}, "summary failed"),
        ({"passed", "not_measured"}, "summary unmeasured"),
        ({"passed"}, "summary"),
    ],
    ids=["failed", "not-measured", "passed"],
)
def test_summary_style_follows_worst_status(kept: set[str], style: str) -> None:
    report = copy.deepcopy(REPORT)
    audits = report["analysis"]["audits"]
    report["analysis"]["audits"] = [a for a in audits if a["status"] in kept]

    page = analysis_html(report)
    classes = set(re.findall(r'<p class="(summary[^"]*)">', page))

    assert classes == {style}


def test_empty_analysis_renders() -> None:
    report: dict[str, Any] = {"analysis": {"segments": [], "audits": []}}
    page = analysis_html(report)
    assert page.count("<svg") == 4
    assert "0 of 0 audits failed." in page
    assert "No audit in this report." in page
    markdown = analysis_markdown(report)
    assert "SliceLine found no slice." in markdown


def test_run_sentence_of_a_temporal_split(markdown: str, page: str) -> None:
    sentence = "Temporal split, test window from 2024-04-24, 2,408 test users."
    assert sentence in markdown
    assert sentence in page


def test_run_sentence_of_a_random_split() -> None:
    report = copy.deepcopy(REPORT)
    report["split_kind"] = "random"
    report["splits"][0]["test_from"] = None
    report["analysis"]["test_users"] = 1002

    assert "Random split of seed 0, 1,002 test users." in analysis_markdown(report)


def test_splits_section_spread_by_count() -> None:
    report = copy.deepcopy(REPORT)
    report["summary"] = {"lightgbm_ranker": {"ndcg@10": {"mean": 0.7, "std": 0.01}}}

    two_windows_page = analysis_html(report)
    report["splits"] = report["splits"][:1]
    report["summary"]["lightgbm_ranker"]["ndcg@10"]["std"] = None
    one_window_page = analysis_html(report)

    assert "Mean ± sample standard deviation over 2 test windows." in two_windows_page
    assert (
        "Values of one test window, which the sections below analyse."
        in one_window_page
    )
    assert "standard deviation" not in one_window_page


def test_missing_analysis_rejected() -> None:
    with pytest.raises(ValueError, match="report field 'analysis' is NoneType"):
        analysis_markdown({"created_at": "2026-12-05T01:00:00+00:00"})


def test_write_html_replaces_page(written: Path) -> None:
    assert written == written.parent / "report.html"
    assert sorted(entry.name for entry in written.parent.iterdir()) == ["report.html"]


def test_html_is_deterministic(written: Path, page: str) -> None:
    # write_html renders the page a second time, from a deep copy of the input.
    assert written.read_bytes() == page.encode()


def test_write_html_keeps_old_page_on_error(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("old page", encoding="utf-8")
    with pytest.raises(ValueError, match="analysis"):
        write_html({"analysis": None}, tmp_path)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["report.html"]
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == "old page"
