"""A synthetic boreal landscape, generated from a seed (pure: arrays in, arrays out).

The landscape is a forest inventory: irregular stand polygons (a jittered-grid Voronoi
partition warped by smooth noise), each with a leading species, a site class and an age
drawn from smooth random fields so that neighbouring stands resemble each other — wet
lowlands carry black spruce, dry uplands jack pine, young mesic stands aspen and birch,
old mesic stands white spruce and fir — with lakes (no data) in the wettest hollows.
Mean annual temperature comes from a coarse climate grid (0.0125 deg cells) with a
south-east to north-west gradient. Every year has clearcut harvests (whole stands of
merchantable age) and some years have wildfires (irregular patches that cross stands).

Everything is vectorised numpy and a single numpy Generator drawn in a fixed order, so
the same seed gives the same arrays on every machine with the same numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPECIES = ("BS", "WS", "JP", "BF", "TA", "WB")  # classifier values of LeadingSpecies
SITE_CLASSES = ("G", "M", "P")  # classifier values of SiteClass
WILDFIRE = "Wildfire"
CLEARCUT = "Clearcut harvesting with salvage"
EVENT_CODES = {WILDFIRE: 1, CLEARCUT: 2}  # pixel values of the disturbance layers

NODATA_BYTE = 255
NODATA_AGE = 32767
NODATA_TEMPERATURE = np.float32(3.4e38)

_STAND_CELL = 16  # pixels between stand seeds (~12 ha stands at 0.00025 deg, 55 N)
_CLIMATE_CELL = 50  # pixels per climate grid cell (0.0125 deg)
_HARVEST_RATE = 0.012  # share of the forest clearcut per year
_MIN_HARVEST_AGE = 60
_FIRE_YEAR_PROBABILITY = 0.6
_FIRE_BURN_RATE = 0.008  # expected share of the forest burned per year


@dataclass
class DemoLandscape:
    """Per-pixel arrays (rows, cols) of the demo; classifier arrays hold indices into the value tuples."""

    species: np.ndarray  # uint8 index into SPECIES, NODATA_BYTE where no forest
    site_class: np.ndarray  # uint8 index into SITE_CLASSES
    age: np.ndarray  # int16 inventory age at start_year, NODATA_AGE where no forest
    temperature: np.ndarray  # float32 deg C, NODATA_TEMPERATURE where no forest
    disturbances: dict[int, np.ndarray] = field(default_factory=dict)  # year -> uint8 EVENT_CODES / NODATA_BYTE
    stand_id: np.ndarray | None = None  # int32 inventory polygon id (not written; for tests)

    @property
    def forest(self) -> np.ndarray:
        return self.species != NODATA_BYTE


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    """Smooth noise (float32, ~N(0,1)) with correlation length ~`scale` pixels: bilinear upsampling
    of a coarse Gaussian grid (separable: columns first on the coarse rows, then rows)."""
    rows, cols = shape
    ch, cw = rows // scale + 3, cols // scale + 3
    coarse = rng.standard_normal((ch, cw)).astype(np.float32)
    x = (np.arange(cols, dtype=np.float32) + 0.5) / scale
    x0 = np.floor(x).astype(np.int64)
    fx = (x - x0).astype(np.float32)
    along_x = coarse[:, x0] * (1 - fx) + coarse[:, x0 + 1] * fx  # (ch, cols), small
    y = (np.arange(rows, dtype=np.float32) + 0.5) / scale
    y0 = np.floor(y).astype(np.int64)
    fy = (y - y0).astype(np.float32)[:, None]
    out = along_x[y0]
    out *= 1 - fy
    out += along_x[y0 + 1] * fy
    # bilinear interpolation shrinks the variance; put it back near 1
    out /= max(float(out.std(dtype=np.float64)), 1e-6)
    return out


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    from math import erf, sqrt

    return (0.5 * (1.0 + np.vectorize(erf, otypes=[np.float64])(z / sqrt(2.0)))).astype(np.float64)


def _stand_polygons(rng: np.random.Generator, side: int, warp: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, int]:
    """Voronoi partition around one jittered seed per _STAND_CELL x _STAND_CELL cell, on warped
    coordinates; computed in row strips to keep temporaries small."""
    n = side // _STAND_CELL + 2
    seeds_y = ((np.arange(n)[:, None] + rng.uniform(0.15, 0.85, (n, n))) * _STAND_CELL).astype(np.float32)
    seeds_x = ((np.arange(n)[None, :] + rng.uniform(0.15, 0.85, (n, n))) * _STAND_CELL).astype(np.float32)
    poly = np.empty((side, side), dtype=np.int32)
    cols = np.arange(side, dtype=np.float32)[None, :] + np.float32(0.5)
    for r0 in range(0, side, 256):
        r1 = min(r0 + 256, side)
        rr = np.arange(r0, r1, dtype=np.float32)[:, None] + np.float32(0.5) + warp[0][r0:r1]
        cc = cols + warp[1][r0:r1]
        cy = np.clip((rr // _STAND_CELL).astype(np.int64), 0, n - 1)
        cx = np.clip((cc // _STAND_CELL).astype(np.int64), 0, n - 1)
        best = np.full(rr.shape, np.inf, dtype=np.float32)
        strip = poly[r0:r1]
        for dy in (-1, 0, 1):
            ny = np.clip(cy + dy, 0, n - 1)
            for dx in (-1, 0, 1):
                nx = np.clip(cx + dx, 0, n - 1)
                dyy = rr - seeds_y[ny, nx]
                dxx = cc - seeds_x[ny, nx]
                d = dyy * dyy + dxx * dxx
                closer = d < best
                best[closer] = d[closer]
                strip[closer] = (ny * n + nx)[closer]
    # renumber 0..k-1 (seed-grid order, i.e. roughly raster order)
    used = np.flatnonzero(np.bincount(poly.ravel(), minlength=n * n))
    rank = np.zeros(n * n, dtype=np.int32)
    rank[used] = np.arange(len(used), dtype=np.int32)
    return rank[poly], len(used)


def _per_stand_mean(poly: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(poly.ravel(), minlength=n)
    sums = np.bincount(poly.ravel(), weights=values.ravel().astype(np.float64), minlength=n)
    return sums / np.maximum(counts, 1)


def generate_landscape(seed: int, side: int, start_year: int, end_year: int) -> DemoLandscape:
    """The demo landscape on a `side` x `side` pixel window; disturbances for start_year..end_year."""
    if side < 32:
        raise ValueError(f"demo landscape side {side} pixels is too small (at least 32)")
    if end_year < start_year:
        raise ValueError(f"end year {end_year} is before start year {start_year}")
    rng = np.random.default_rng(seed)
    shape = (side, side)

    moisture = _smooth_field(rng, shape, 48) * 0.8 + _smooth_field(rng, shape, 12) * 0.35
    fertility = _smooth_field(rng, shape, 40)
    history = _smooth_field(rng, shape, 64)  # old-fire-history field: where stands are old
    warp = (_smooth_field(rng, shape, 24) * 5.0, _smooth_field(rng, shape, 24) * 5.0)
    poly, n = _stand_polygons(rng, side, warp)

    # Lakes in the wettest hollows (pixel-level shapes, not stand-shaped).
    lake = moisture > np.quantile(moisture, 0.965)

    # Per-stand attributes from the fields at the stand + stand-level noise.
    m = _per_stand_mean(poly, moisture, n)
    f = _per_stand_mean(poly, fertility, n)
    h = _per_stand_mean(poly, history, n)
    u_age = _normal_cdf(0.8 * h + 0.6 * rng.standard_normal(n))
    # boreal age structure: negative exponential (fire cycle ~75 yr), capped at 250
    age = np.clip(np.round(-75.0 * np.log1p(-np.clip(u_age, 0, 0.9999))), 1, 250).astype(np.int16)
    noise = rng.standard_normal((n, 3))
    wet = m + 0.3 * noise[:, 0] > 0.55
    dry = m + 0.3 * noise[:, 0] < -0.65
    young = age < 45 + 20 * noise[:, 1]
    pick = rng.uniform(size=n)
    species = np.where(wet, 0,  # BS
              np.where(dry, 2,  # JP
              np.where(young, np.where(pick < 0.7, 4, 5),  # TA / WB
                       np.where(pick < 0.55, 1, np.where(pick < 0.8, 3, 4)))))  # WS / BF / TA
    site_score = f + 0.5 * noise[:, 2] - 0.6 * wet
    site = np.where(site_score > 0.5, 0, np.where(site_score > -0.5, 1, 2))

    species_px = species.astype(np.uint8)[poly]
    site_px = site.astype(np.uint8)[poly]
    age_px = age[poly]
    species_px[lake] = NODATA_BYTE
    site_px[lake] = NODATA_BYTE
    age_px = np.where(lake, np.int16(NODATA_AGE), age_px).astype(np.int16)
    forest = ~lake

    # Climate grid: gradient from warm south-east to cool north-west, plus a smooth anomaly.
    cells = side // _CLIMATE_CELL + 1
    yy, xx = np.meshgrid(np.linspace(0, 1, cells), np.linspace(0, 1, cells), indexing="ij")  # yy: 0 = north
    anomaly = rng.standard_normal((cells, cells)) * 0.15
    t_cells = np.round(-0.65 + 0.9 * yy + 0.5 * xx + anomaly, 1) + 0.0  # + 0.0: no negative zeros
    idx = np.arange(side) // _CLIMATE_CELL
    temperature = t_cells[idx][:, idx].astype(np.float32)
    temperature[lake] = NODATA_TEMPERATURE

    # Disturbances, year by year, on the evolving age (per-stand age sums kept incrementally).
    current_age = np.where(forest, age_px, 0).astype(np.int32)
    n_forest = int(forest.sum())
    stand_pixels = np.bincount(poly[forest], minlength=n)
    stand_age_sum = np.bincount(poly.ravel(), weights=current_age.ravel(), minlength=n)
    rows = np.arange(side)[:, None]
    cols = np.arange(side)[None, :]
    disturbances: dict[int, np.ndarray] = {}
    for year in range(start_year, end_year + 1):
        event = np.full(shape, NODATA_BYTE, dtype=np.uint8)
        if rng.uniform() < _FIRE_YEAR_PROBABILITY:
            target = rng.uniform(0.3, 1.7) * _FIRE_BURN_RATE / _FIRE_YEAR_PROBABILITY * n_forest
            burned, tries = 0, 0
            while burned < target and tries < 200:
                tries += 1
                radius = float(np.clip(rng.lognormal(np.log(side * 0.035), 0.6), 3, side * 0.12))
                cy, cx = rng.uniform(0, side, 2)
                r0, r1 = int(max(cy - 1.6 * radius, 0)), int(min(cy + 1.6 * radius + 1, side))
                c0, c1 = int(max(cx - 1.6 * radius, 0)), int(min(cx + 1.6 * radius + 1, side))
                d = np.sqrt((rows[r0:r1] - cy) ** 2 + (cols[:, c0:c1] - cx) ** 2) / radius
                ragged = d + 0.35 * moisture[r0:r1, c0:c1] - 0.25 * warp[0][r0:r1, c0:c1] / 5.0
                patch = (ragged < 1.0) & forest[r0:r1, c0:c1]
                event[r0:r1, c0:c1][patch] = EVENT_CODES[WILDFIRE]
                burned += int(patch.sum())
        # Clearcuts: whole stands of merchantable age, oldest-first with randomness, not burned this year.
        mean_age = stand_age_sum / np.maximum(stand_pixels, 1)
        eligible = (mean_age >= _MIN_HARVEST_AGE) & (stand_pixels > 0)
        candidates = np.flatnonzero(eligible)
        if candidates.size:
            priority = mean_age[candidates] * rng.uniform(0.5, 1.5, candidates.size)
            ranked = candidates[np.argsort(-priority, kind="stable")]
            cumulative = np.cumsum(stand_pixels[ranked])
            k = int(np.searchsorted(cumulative, _HARVEST_RATE * n_forest)) + 1
            chosen = np.zeros(n, dtype=bool)
            chosen[ranked[:k]] = True
            cut = chosen[poly] & forest & (event == NODATA_BYTE)
            event[cut] = EVENT_CODES[CLEARCUT]
        disturbed = event != NODATA_BYTE
        stand_age_sum += stand_pixels  # every forest pixel one year older ...
        stand_age_sum -= np.bincount(poly[disturbed], weights=current_age[disturbed] + 1, minlength=n)  # ... but these
        current_age += 1
        current_age[disturbed] = 0
        disturbances[year] = event

    return DemoLandscape(species_px, site_px, age_px, temperature, disturbances, poly)
