"""Cached catalog, calibration and plan results, and the input widgets of the modelling pages
(Hardware, Costs, Capacity plan, Recommendations). Kept apart from dash_common so the Overview and
Benchmarks pages do not import the planner and performance model."""

from __future__ import annotations

from typing import Any

import streamlit as st
from dash_common import Page, cached_store

from capplan.views.catalog import Catalog, load_catalog
from capplan.views.costs import AssumptionSet, assumption_fields
from capplan.views.errors import UserError
from capplan.views.plan import PlanResult, example_plans, plan_result, unserved_workload_quarters
from capplan.views.projection import CalibrationPoint
from capplan.views.projection import calibration_points as gather_calibration_points
from capplan.views.text import md_escape
from capplan.views.workloads import (
    DTYPES,
    WORKLOAD_NAMES,
    WORKLOAD_TASKS,
    WorkloadDesc,
    model_run_choices,
    named_workload,
    workload_of_run,
)


@st.cache_resource(show_spinner="Loading the catalog…")
def catalog() -> Catalog:
    """The hardware and cloud catalog (shipped rows plus the user's override files)."""
    return load_catalog()


@st.cache_resource(show_spinner="Gathering calibration points…", max_entries=4)
def calibration_points(page: Page) -> list[CalibrationPoint]:
    """Projection calibration points: stored ok model runs plus the shipped published results."""
    return gather_calibration_points(cached_store(page.url), catalog())


@st.cache_data(show_spinner=False, max_entries=8)
def _run_choices(page: Page) -> dict[str, str]:
    return model_run_choices(cached_store(page.url), MAX_RUN_CHOICES)


@st.cache_resource(show_spinner=False, max_entries=64)
def _run_workload(url: str, run_id: str) -> WorkloadDesc | None:
    return workload_of_run(cached_store(url), run_id)


def assumption_inputs(model: type[AssumptionSet], prefix: str, container: Any) -> AssumptionSet:
    """One input per assumption of ``model`` (default, bounds, unit and source shown); the edited set
    (only changed values are set, so the assumption table can tell edited from default)."""
    changed: dict[str, Any] = {}
    for f in assumption_fields(model):
        key = f"{prefix}_{f.name}"
        if isinstance(f.default, bool):
            value = container.checkbox(f.label, value=f.default, help=f.help, key=key)
        else:
            value = container.number_input(f.label, value=float(f.default), min_value=f.minimum,
                                           max_value=f.maximum, help=f.help, key=key, format="%.4g")
        if value != f.default:
            changed[f.name] = value
    return model(**changed)


def workload_inputs(container: Any, prefix: str, page: Page) -> WorkloadDesc | None:
    """A catalog workload or a stored model run, with task, dtype and batch; the described workload
    (None, with a warning, when a stored run cannot be described)."""
    runs = _run_choices(page)
    source = container.radio(
        "Workload from",
        ("catalog", "stored run"),
        horizontal=True,
        key=f"{prefix}_source",
        disabled=not runs,
        help="stored runs: model benchmarks (infer, train, generate)",
    )
    if source == "stored run" and runs:
        run_id = container.selectbox("Run", list(runs), format_func=runs.__getitem__, key=f"{prefix}_run")
        desc = _run_workload(page.url, run_id)
        if desc is None:
            st.warning("This run stores no FLOP counts and no known model name; pick another run.")
            return None
    else:
        workload = container.selectbox("Workload", WORKLOAD_NAMES, index=WORKLOAD_NAMES.index("bert-base"),
                                       key=f"{prefix}_workload")
        task = container.selectbox("Task", WORKLOAD_TASKS, key=f"{prefix}_task")
        desc = named_workload(workload, task=task)
    dtype = container.selectbox("dtype", DTYPES, index=DTYPES.index("bf16"), key=f"{prefix}_dtype")
    batch = int(container.number_input("Batch size", 1, 4096, 8, key=f"{prefix}_batch"))
    return desc.model_copy(update={"dtype": dtype, "batch": batch})


MAX_RUN_CHOICES = 50  # newest model runs offered as projection sources
UPLOADED = "plan_uploaded"  # session_state: {"name", "text"} of the last uploaded plan file
SELECTED = "plan_selected"  # session_state: the plan chosen on the Capacity plan / Recommendations pages


def plan_picker() -> tuple[str, str] | None:
    """Sidebar choice of an example plan or an uploaded plan.yaml, kept across pages; (name, YAML text)."""
    side = st.sidebar
    side.header("Plan")
    upload = side.file_uploader("Upload a plan.yaml", type=["yaml", "yml"], key="plan_upload")
    if upload is not None:
        try:
            st.session_state[UPLOADED] = {"name": upload.name, "text": upload.getvalue().decode("utf-8")}
            st.session_state[SELECTED] = f"uploaded: {upload.name}"
        except UnicodeDecodeError:
            st.error(f"{md_escape(upload.name)}: not UTF-8 text; a plan is a YAML file")
    examples = example_plans()
    options = [*examples]
    uploaded = st.session_state.get(UPLOADED)
    if uploaded:
        options.insert(0, f"uploaded: {uploaded['name']}")
    if not options:
        st.info("No example plans found and nothing uploaded yet: upload a plan.yaml in the sidebar.")
        return None
    current = st.session_state.get(SELECTED)
    choice = side.selectbox("Plan", options, index=options.index(current) if current in options else 0)
    st.session_state[SELECTED] = choice
    if uploaded and choice == options[0]:
        return uploaded["name"], uploaded["text"]
    return choice, examples[choice].read_text(encoding="utf-8")


@st.cache_resource(
    show_spinner="Planning: sizing, placement (MILP), alternatives and sensitivity…", max_entries=8
)
def _plan_result(text: str, name: str, page: Page) -> PlanResult:
    return plan_result(text, name, catalog(), cached_store(page.url))


def chosen_plan_result(page: Page) -> PlanResult | None:
    """The chosen plan's result (cached per plan text and store state); errors shown as one line, and a
    warning when the recommendation leaves demand unserved."""
    picked = plan_picker()
    if picked is None:
        return None
    name, text = picked
    try:
        result = _plan_result(text, name, page)
    except UserError as exc:
        st.error(md_escape(exc))
        return None
    unserved = unserved_workload_quarters(result)
    if unserved:
        st.warning(
            f"The recommended plan leaves {unserved} workload-quarter(s) without capacity; the reasons on "
            "the Recommendations page say why (constraints, lead times, budget)."
        )
    return result
