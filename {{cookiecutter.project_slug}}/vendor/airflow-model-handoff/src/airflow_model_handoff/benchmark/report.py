"""From the runs to what ``make bench`` publishes: the median run of each kind, the targets, the table."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

# A kind of run: everything but the measurement.
KIND = ("model_mb", "method", "phase", "conditions", "cache")
# The figure of record for each phase: as in a task, and a load from the disk where the storage is a local file.
MAIN = {"conditions": "task", "cache": ("cold", None)}
# Memory targets: a phase may add this much over the model (save: nothing of it; load: the model itself).
SLACK_FRACTION, SLACK_MB = 0.05, 16
# Time targets: s3 within 15% of raw (and below naive); shared_fs within 10% of raw plus the two SHA-256 passes a
# verified handoff cannot avoid.
S3_OVER_RAW, SHARED_FS_OVER_FLOOR = 1.15, 1.10
METHODS = ("handoff", "naive", "raw")


def kind(run: dict) -> tuple:
    return tuple(run.get(field) for field in KIND)


def median_runs(runs: Iterable[dict]) -> list[dict]:
    """The run with the median time of each kind (the lower middle one for an even count): a real run, not a
    blend of several."""
    grouped: dict[tuple, list[dict]] = {}
    for run in runs:
        grouped.setdefault(kind(run), []).append(run)
    return [sorted(group, key=lambda r: r["seconds"])[(len(group) - 1) // 2] for group in grouped.values()]


def is_main(record: dict) -> bool:
    return record.get("conditions") == MAIN["conditions"] and record.get("cache") in MAIN["cache"]


def extra_mb(record: dict) -> float:
    """What the phase added: its peak RSS over its baseline, plus its temporary files on a tmpfs."""
    return record["peak_rss_mb"] - record["baseline_rss_mb"] + record.get("spool_mb", 0.0)


def median_seconds(runs: Iterable[dict], size_mb: float) -> float | None:
    seconds = [run["seconds"] for run in runs if run["model_mb"] == size_mb]
    return round(statistics.median(seconds), 4) if seconds else None


def targets(results: list[dict], backend: str, hashing: list[dict]) -> list[dict]:
    """Per size: the handoff's time against raw, naive and (shared_fs) the verified floor, and its memory against
    the bounds; each with whether it is met."""
    main = {(r["model_mb"], r["method"], r["phase"]): r for r in results if is_main(r)}
    rows = []
    for size_mb in sorted({size for size, _, _ in main}):
        total = {m: main[(size_mb, m, "save")]["seconds"] + main[(size_mb, m, "load")]["seconds"] for m in METHODS}
        save, load = main[(size_mb, "handoff", "save")], main[(size_mb, "handoff", "load")]
        row = {
            "model_mb": size_mb,
            "handoff_s": round(total["handoff"], 4),
            "raw_s": round(total["raw"], 4),
            "naive_s": round(total["naive"], 4),
            "over_raw": round(total["handoff"] / total["raw"], 2),
            "over_naive": round(total["handoff"] / total["naive"], 2),
            "save_extra_mb": round(extra_mb(save), 1),
            "load_extra_mb": round(extra_mb(load), 1),
            "save_extra_max_mb": round(SLACK_FRACTION * size_mb + SLACK_MB, 1),
            "load_extra_max_mb": round((1 + SLACK_FRACTION) * size_mb + SLACK_MB, 1),
        }
        row["memory_met"] = row["save_extra_mb"] <= row["save_extra_max_mb"] and (
            row["load_extra_mb"] <= row["load_extra_max_mb"]
        )
        if backend == "s3":
            row["time_met"] = row["over_raw"] <= S3_OVER_RAW and total["handoff"] < total["naive"]
        elif backend == "shared_fs":
            sha256 = median_seconds(hashing, size_mb)
            floor = total["raw"] + sha256
            row |= {"sha256_two_passes_s": sha256, "floor_s": round(floor, 4)}
            row["over_floor"] = round(total["handoff"] / floor, 2)
            row["time_met"] = row["over_floor"] <= SHARED_FS_OVER_FLOOR
        rows.append(row)
    return rows


def load_label(conditions: str, cache: str | None) -> str:
    return f"load {conditions}" + (f"/{cache}" if cache else "") + " s"


def table(results: list[dict]) -> str:
    """The figures of record, plus the other loads measured (from the page cache; outside a task)."""
    main = {(r["model_mb"], r["method"], r["phase"]): r for r in results if is_main(r)}
    by_kind = {kind(r): r for r in results}
    other_loads = {(r["conditions"], r.get("cache")) for r in results if r["phase"] == "load" and not is_main(r)}
    others = sorted(other_loads, key=str)
    labels = [load_label(*other) for other in others]
    rows = ["  model MB  method    save s  load s  total s  save +MB  load +MB" + "".join(f"  {x}" for x in labels)]
    for size_mb, method in sorted({(size, m) for size, m, _ in main}, key=lambda k: (k[0], METHODS.index(k[1]))):
        save, load = main[(size_mb, method, "save")], main[(size_mb, method, "load")]
        line = f"  {size_mb:>8}  {method:<8} {save['seconds']:7.3f} {load['seconds']:7.3f}"
        line += f" {save['seconds'] + load['seconds']:8.3f} {extra_mb(save):9.1f} {extra_mb(load):9.1f}"
        for (conditions, cache), label in zip(others, labels, strict=True):
            other = by_kind.get((size_mb, method, "load", conditions, cache))
            line += f"  {other['seconds']:{len(label)}.3f}" if other else " " * (len(label) + 2)
        rows.append(line)
    return "\n".join(rows)
