"""What can be bought or rented: on-prem server types and cloud prices, resolved from catalog and plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from capplan.catalog import Accelerator, Catalog, CloudInstance
from capplan.catalog.models import normalise_name
from capplan.catalog.regions import region_key
from capplan.costs import engine
from capplan.costs.cloud import RESERVED_TERM_QUARTERS, CloudPrice
from capplan.costs.engine import CloudCarbon, OnPremCarbon
from capplan.costs.onprem import ServerConfig, ServerTCO
from capplan.errors import UserError
from capplan.planner.plan import OnPremCandidate, Plan, Site
from capplan.planner.residency import Residency


@dataclass(frozen=True)
class ServerOption:
    """One on-prem server type (a candidate to buy, or servers already owned)."""

    label: str
    accelerator: Accelerator
    config: ServerConfig
    tco: ServerTCO
    carbon: OnPremCarbon
    lead_time_weeks: float
    existing_servers: int = 0
    site: Site | None = None

    @property
    def source(self) -> str:
        return self.config.price_source


@dataclass(frozen=True)
class CloudOption:
    """One cloud instance under one pricing model."""

    label: str
    accelerator: Accelerator
    price: CloudPrice
    usd_per_gpu_hour_all_in: float  # price x spot overhead x (1 + monitoring/retraining share)
    carbon: CloudCarbon

    @property
    def reserved(self) -> bool:
        return self.price.pricing_model in RESERVED_TERM_QUARTERS

    @property
    def source(self) -> str:
        return self.price.source


@dataclass
class Candidates:
    catalog: Catalog
    residency: Residency
    servers: list[ServerOption] = field(default_factory=list)
    cloud: list[CloudOption] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def merged_catalog(plan: Plan, catalog: Catalog) -> Catalog:
    """The catalog with the plan's own accelerator and instance rows added or overriding."""
    accs = {normalise_name(a.name): a for a in catalog.accelerators}
    accs.update({normalise_name(a.name): a for a in plan.hardware})
    insts: dict[tuple[str, str, str], CloudInstance] = {i.key: i for i in catalog.instances}
    insts.update({i.key: i for i in plan.instances})
    return Catalog(list(accs.values()), list(insts.values()), catalog.files, catalog.purchase_rows,
                   regions=catalog.regions.merged(plan.regions), grid=catalog.grid, embodied=catalog.embodied)


def _lower(items: list[str] | None) -> set[str] | None:
    return None if items is None else {i.lower() for i in items}


def _server(
    plan: Plan, cat: Catalog, cand: OnPremCandidate, where: str, existing: int = 0
) -> ServerOption | str:
    acc = cat.find_accelerator(cand.accelerator)
    if acc is None:
        cat.accelerator(cand.accelerator)  # raises UserError with close matches
        raise UserError(f"{where}.accelerator: {cand.accelerator!r} is not in the catalog")
    price, source, date = cand.gpu_price_usd, cand.price_source, None
    cited = cat.purchase_price(acc.name) if price is None else None
    if cited is not None:
        price, source, date = cited.mid_usd, f"catalog: {acc.name} {cited.describe()}", cited.source_date
    if price is None and not existing:
        return f"on-prem {acc.name}: no cited purchase price (give gpu_price_usd and price_source in {where})"
    if acc.tdp_w is None:
        return f"on-prem {acc.name}: catalog has no TDP, so power cannot be costed"
    if existing:
        source = (
            "existing fleet (capex sunk; support priced from "
            + (source or "no price: support not costed")
            + ")"
        )
    config = ServerConfig(
        accelerator=acc.name,
        gpus_per_server=cand.gpus_per_server,
        gpu_price_usd=price or 0.0,
        server_price_usd=cand.server_price_usd if price else 0.0,
        gpu_tdp_w=acc.tdp_w,
        price_source=source or "plan file",
        lead_time_weeks=cand.lead_time_weeks,
        price_date=date,
    )
    lead = (
        cand.lead_time_weeks
        if cand.lead_time_weeks is not None
        else plan.assumptions.onprem.procurement_lead_time_weeks
    )
    prefix = "existing on-prem" if existing else "on-prem"
    tco = engine.server_tco(config, plan.assumptions.onprem)
    site = plan.site(cand.site)
    return ServerOption(
        label=f"{prefix} {acc.name} ({cand.gpus_per_server}-GPU server)"
        + (f" at {site.name}" if site else ""),
        accelerator=acc,
        config=config,
        tco=tco,
        carbon=engine.onprem_carbon(tco, plan.assumptions.carbon, cat.embodied_for(acc.name)),
        lead_time_weeks=lead,
        existing_servers=existing,
        site=site,
    )


def resolve_candidates(plan: Plan, catalog: Catalog) -> Candidates:
    """On-prem server options (priced ones only) and cloud prices allowed by the plan."""
    cat = merged_catalog(plan, catalog)
    out = Candidates(catalog=cat, residency=Residency.build(plan, cat))
    regions = out.residency.cloud_regions(plan.candidates.cloud.regions, "candidates.cloud.regions")
    only = None if plan.candidates.accelerators is None else set()
    for i, name in enumerate(plan.candidates.accelerators or []):
        acc = cat.find_accelerator(name)
        if acc is None:
            raise UserError(f"candidates.accelerators[{i}]: {name!r} is not in the catalog")
        only.add(acc.name)  # type: ignore[union-attr]
    cands = plan.candidates.onprem
    if cands is None:
        cands = [
            OnPremCandidate(accelerator=a.name)
            for a in cat.accelerators
            if a.kind == "gpu" and cat.purchase_price(a.name) is not None
        ]
    for i, cand in enumerate(cands):
        opt = _server(plan, cat, cand, f"candidates.onprem[{i}]")
        if isinstance(opt, str):
            out.excluded.append(opt)
        elif only is None or opt.accelerator.name in only:
            out.servers.append(opt)
    for i, ex in enumerate(plan.existing.onprem):
        known = next(
            (c for c in cands if normalise_name(c.accelerator) == normalise_name(ex.accelerator)), None
        )
        cand = OnPremCandidate(
            accelerator=ex.accelerator,
            site=ex.site,
            gpus_per_server=ex.gpus_per_server,
            gpu_price_usd=known.gpu_price_usd if known else None,
            price_source=known.price_source if known else None,
        )
        opt = _server(plan, cat, cand, f"existing.onprem[{i}]", existing=ex.servers)
        if isinstance(opt, str):
            raise UserError(f"existing.onprem[{i}]: {opt}")
        out.servers.append(opt)
    providers = _lower(plan.candidates.cloud.providers)
    a = plan.assumptions.cloud
    for inst in cat.instances:
        if providers is not None and inst.provider.lower() not in providers:
            continue
        if regions is not None and region_key(inst.provider, inst.region) not in regions:
            continue
        acc = cat.find_accelerator(inst.gpu_name) if inst.gpu_name else None
        if acc is None or (only is not None and acc.name not in only):
            continue
        for model in plan.candidates.cloud.pricing_models:
            price = engine.cloud_price(inst, model, a)
            if price is None:
                continue
            label = f"{inst.provider} {inst.instance} {inst.region} {model}"
            footprint = engine.cloud_carbon(
                price,
                acc.tdp_w or 0.0,
                plan.assumptions.onprem,
                plan.assumptions.carbon,
                cat.grid_intensity(inst.provider, inst.region),
                cat.embodied_for(acc.name),
            )
            all_in = engine.cloud_gpu_hour_cost_usd(price, a)
            out.cloud.append(CloudOption(label, acc, price, all_in, footprint))
            out.residency.add_cloud(label, inst.provider, inst.region)
    for s in out.servers:
        out.residency.add_onprem(s.label, s.site)
    return out
