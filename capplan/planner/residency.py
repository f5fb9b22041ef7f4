"""Data residency: where each workload's data may be processed (cloud region or on-prem site), and why.

Cloud regions are named provider-qualified, ``aws:us-east-1``: region ids are unique only per provider
(Lambda also has a "us-east-1", in a different data centre run by a different company). A bare name is
accepted when exactly one provider in the catalog has a region of that name, and is reported qualified; a
bare name that several providers use is refused in one line that names them and shows the qualified form.

Rules of a sensitive workload; every rule the plan gives must hold:

- ``sensitivity: on_prem``: the organisation's own sites only;
- ``allowed_regions``: the cloud regions listed (on-prem sites are not cloud regions and stay allowed);
- ``allowed_jurisdictions``: the venue's country or economic area is listed (cloud regions: the catalog's
  region table; on-prem: the plan's ``sites``, so an undeclared site cannot meet this rule);
- ``approved_providers``: the cloud provider is listed.

Every check returns a ``Verdict`` whose ``rule`` is the exact sentence that allowed or excluded the venue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from capplan.catalog import Catalog
from capplan.catalog.regions import Region, economic_areas_of, qualified_name, region_key
from capplan.errors import UserError
from capplan.planner.plan import Plan, Site, Workload


@dataclass(frozen=True)
class Venue:
    """Where an option would process data: one provider's cloud region, or an on-prem site."""

    name: str  # aws:us-east-1 | on-prem site NAME | on-prem (no site declared)
    cloud: bool
    provider: str | None = None
    region: Region | None = None
    site: Site | None = None

    def jurisdictions(self) -> tuple[str, ...]:
        """Country first, then its economic areas; () when unknown."""
        if self.region is not None:
            return self.region.jurisdictions()
        if self.site is not None:
            return (self.site.country, *economic_areas_of(self.site.country))
        return ()

    def where(self) -> str:
        """Location as the region table or the plan gives it ('' when unknown)."""
        if self.region is not None:
            return self.region.describe()
        if self.site is not None:
            areas = economic_areas_of(self.site.country)
            return self.site.country + (f", {'/'.join(areas)}" if areas else "")
        return ""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str


NO_CONSTRAINT = Verdict(True, "no residency constraint")


def _and(clauses: list[str]) -> str:
    return clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + ", and " + clauses[-1]


@dataclass(frozen=True)
class Rules:
    """One workload's residency rules, with region names resolved to their qualified form."""

    workload: str
    sensitivity: str
    regions: tuple[str, ...] = ()  # qualified, as the catalog spells them
    region_places: tuple[str, ...] = ()  # "aws:us-east-1 (US East (N. Virginia), US)"
    jurisdictions: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()

    @property
    def sensitive(self) -> bool:
        return self.sensitivity != "none"

    @cached_property
    def _listed(self) -> frozenset[str]:
        return frozenset(r.lower() for r in self.regions)

    @cached_property
    def _approved(self) -> frozenset[str]:
        return frozenset(p.lower() for p in self.providers)

    def describe(self) -> str:
        """The plan's rules in one line, e.g. 'sensitivity: region; allowed_regions: aws:us-east-1 (...)'."""
        parts = [f"sensitivity: {self.sensitivity}"]
        if self.region_places:
            parts.append(f"allowed_regions: {', '.join(self.region_places)}")
        if self.jurisdictions:
            parts.append(f"allowed_jurisdictions: {', '.join(self.jurisdictions)}")
        if self.providers:
            parts.append(f"approved_providers: {', '.join(self.providers)}")
        return "; ".join(parts)

    def check(self, venue: Venue) -> Verdict:
        """Allowed or excluded, with the rule that decided it."""
        if not self.sensitive:
            return NO_CONSTRAINT
        return self._cloud(venue) if venue.cloud else self._onprem(venue)

    def _cloud(self, venue: Venue) -> Verdict:
        if self.sensitivity == "on_prem":
            return Verdict(False, f"sensitivity: on_prem keeps {self.workload}'s data on the organisation's "
                                  "own sites: no cloud region is allowed")
        about: list[str] = []  # clauses about the region itself
        bad: list[str] = []
        if self.regions:
            if venue.name.lower() in self._listed:
                about.append("is listed in allowed_regions")
            else:
                bad.append(f"{venue.name} is not listed in allowed_regions ({', '.join(self.regions)})"
                           + self._same_name(venue))
        if self.jurisdictions:
            ok, text = self._jurisdiction(venue)
            (about if ok else bad).append(text if ok else f"{venue.name} {text}")
        provider_ok: list[str] = []
        if self.providers:
            if (venue.provider or "").lower() in self._approved:
                provider_ok.append(f"{venue.provider} is an approved provider")
            else:
                bad.append(f"{venue.provider} is not an approved provider "
                           f"(approved_providers: {', '.join(self.providers)})")
        if bad:
            return Verdict(False, "; ".join(bad))
        clauses = ([f"{venue.name} {' and '.join(about)}"] if about else []) + provider_ok
        return Verdict(True, _and(clauses))

    def _same_name(self, venue: Venue) -> str:
        bare = venue.name.split(":", 1)[1].lower()
        twins = [r for r in self.regions if r.split(":", 1)[1].lower() == bare]
        return f": same region name as {twins[0]}, but another provider's data centre" if twins else ""

    def _jurisdiction(self, venue: Venue) -> tuple[bool, str]:
        """(met, clause): 'is in US' / 'is in NL, in the EU' / 'is in GB, outside ...'."""
        have = venue.jurisdictions()
        allowed = ", ".join(self.jurisdictions)
        if not have:
            what = ("has no jurisdiction on record (no row in the catalog's region table: add one, see "
                    "`capplan catalog list regions`)")
            return False, f"{what}, so allowed_jurisdictions ({allowed}) cannot be confirmed"
        country, areas = have[0], have[1:]
        if country in self.jurisdictions:
            return True, f"is in {country}"
        hit = next((a for a in areas if a in self.jurisdictions), None)
        if hit is not None:
            return True, f"is in {country}, in the {hit}"
        in_areas = f" ({'/'.join(areas)})" if areas else ""
        return False, f"is in {country}{in_areas}, outside allowed_jurisdictions ({allowed})"

    def _onprem(self, venue: Venue) -> Verdict:
        if self.jurisdictions:
            if venue.site is None:
                return Verdict(False, f"{venue.name}: the plan declares no site country, so "
                                      f"allowed_jurisdictions ({', '.join(self.jurisdictions)}) cannot be "
                                      "confirmed; add sites: [{name, country}] to the plan")
            ok, text = self._jurisdiction(venue)
            return Verdict(ok, f"{venue.name} {text}")
        if self.sensitivity == "on_prem":
            return Verdict(True, f"{venue.name} is one of the organisation's own sites, as "
                                 "sensitivity: on_prem requires")
        return Verdict(True, f"{venue.name} is the organisation's own infrastructure; allowed_regions and "
                             "approved_providers limit cloud venues only")


class RegionNames:
    """Every (provider, region) the catalog knows (region table and instances), for resolving plan names."""

    def __init__(self, catalog: Catalog) -> None:
        self.regions = catalog.regions
        self.pairs: dict[tuple[str, str], str] = {r.key: r.qualified for r in catalog.regions}
        self.providers: dict[str, str] = {r.provider.lower(): r.provider for r in catalog.regions}
        for inst in catalog.instances:
            self.pairs.setdefault(region_key(inst.provider, inst.region), qualified_name(inst.provider,
                                                                                         inst.region))
            self.providers.setdefault(inst.provider.lower(), inst.provider)

    def resolve(self, name: str, where: str) -> str:
        """The qualified name ``name`` stands for; UserError when it is unknown or names several regions."""
        text = name.strip()
        if ":" in text:
            provider, region = (p.strip() for p in text.split(":", 1))
            if provider.lower() not in self.providers:
                raise UserError(f"{where}: unknown provider {provider!r} in {text!r}; known providers: "
                                f"{', '.join(sorted(self.providers))}")
            found = self.pairs.get(region_key(provider, region))
            if found is None:
                raise UserError(f"{where}: {provider.lower()} has no region {region!r}{self._hint(text)}")
            return found
        matches = sorted(q for (_, r), q in self.pairs.items() if r == text.lower())
        if len(matches) > 1:
            listed = ", ".join(self.place(q) for q in matches)
            raise UserError(
                f"{where}: region {text!r} is ambiguous: {len(matches)} providers have a region of that name "
                f"({listed}); write it provider-qualified, e.g. {matches[0]}"
            )
        if not matches:
            raise UserError(f"{where}: no provider has a region {text!r}{self._hint(text)}")
        return matches[0]

    def place(self, qualified: str) -> str:
        """'aws:us-east-1 (US East (N. Virginia), US)' (the bare name when the region table lacks it)."""
        provider, region = qualified.split(":", 1)
        row = self.regions.get(provider, region)
        return f"{qualified} ({row.describe()})" if row is not None else qualified

    def _hint(self, text: str) -> str:
        close = self.regions.close_matches(text)
        listed = f"; close matches: {', '.join(close)}" if close else ""
        return listed + " (see `capplan catalog list regions`)"

    def provider(self, name: str, where: str) -> str:
        found = self.providers.get(name.strip().lower())
        if found is None:
            raise UserError(f"{where}: unknown provider {name!r}; known providers: "
                            f"{', '.join(sorted(self.providers.values()))}")
        return found


def resolve_rules(plan: Plan, names: RegionNames) -> list[Rules]:
    """Each workload's rules with names resolved; UserError (field path, one line) on a bad name."""
    return [_rules(wi, w, names) for wi, w in enumerate(plan.workloads)]


def _rules(wi: int, w: Workload, names: RegionNames) -> Rules:
    at = f"workloads[{wi}] ({w.name})"
    regions = tuple(dict.fromkeys(
        names.resolve(r, f"{at}.allowed_regions[{i}]") for i, r in enumerate(w.allowed_regions)
    ))
    providers = tuple(dict.fromkeys(
        names.provider(p, f"{at}.approved_providers[{i}]") for i, p in enumerate(w.approved_providers)
    ))
    return Rules(
        workload=w.name,
        sensitivity=w.sensitivity,
        regions=regions,
        region_places=tuple(names.place(q) for q in regions),
        jurisdictions=tuple(dict.fromkeys(w.allowed_jurisdictions)),
        providers=providers,
    )


@dataclass
class Residency:
    """The plan's residency rules against its candidate options (cloud offers, on-prem server types)."""

    plan: Plan
    names: RegionNames
    rules: list[Rules]
    venues: dict[str, Venue] = field(default_factory=dict)  # option label -> venue
    _verdicts: dict[tuple[int, str], Verdict] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, plan: Plan, catalog: Catalog) -> Residency:
        names = RegionNames(catalog)
        return cls(plan, names, resolve_rules(plan, names))

    def cloud_regions(self, entries: list[str] | None, where: str) -> set[tuple[str, str]] | None:
        """Resolve a plan list of cloud regions (e.g. candidates.cloud.regions) to region keys."""
        if entries is None:
            return None
        resolved = (self.names.resolve(e, f"{where}[{i}]") for i, e in enumerate(entries))
        return {region_key(*q.split(":", 1)) for q in resolved}

    def add_cloud(self, label: str, provider: str, region: str) -> None:
        name = self.names.pairs.get(region_key(provider, region), qualified_name(provider, region))
        self.venues[label] = Venue(name, True, provider, self.names.regions.get(provider, region))

    def add_onprem(self, label: str, site: Site | None) -> None:
        self.venues[label] = Venue(f"on-prem site {site.name}" if site else "on-prem", False, site=site)

    def verdict(self, wi: int, label: str) -> Verdict:
        """Whether workload ``wi`` may use the option ``label``, and the rule that says so."""
        venue = self.venues.get(label)
        if venue is None:
            raise KeyError(f"option {label!r} was not registered with the residency rules")
        key = (wi, venue.name)
        if key not in self._verdicts:  # the verdict depends on the venue only, not on the offer
            self._verdicts[key] = self.rules[wi].check(venue)
        return self._verdicts[key]

    def allowed(self, wi: int, label: str) -> bool:
        return self.verdict(wi, label).allowed

    def sensitive(self) -> Iterable[int]:
        return (wi for wi, r in enumerate(self.rules) if r.sensitive)
