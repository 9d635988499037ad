"""The results at a glance: time and extra memory against model size, save and load, one line per method."""

from __future__ import annotations

from pathlib import Path

from .report import extra_mb

# Colour and line style per method: equal results draw on top of each other but stay distinguishable.
METHODS = {"handoff": ("tab:green", "o-"), "naive": ("tab:red", "s--"), "raw": ("tab:grey", "^:")}


def plot(results: list[dict], path: Path, backend: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    sizes = sorted({r["model_mb"] for r in results})
    figure, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, layout="constrained")
    for column, phase in enumerate(("save", "load")):
        time_axis, memory_axis = axes[0][column], axes[1][column]
        for method, (colour, style) in METHODS.items():
            runs = [r for r in results if r["method"] == method and r["phase"] == phase]
            runs.sort(key=lambda r: r["model_mb"])
            x = [r["model_mb"] for r in runs]
            time_axis.plot(x, [r["seconds"] for r in runs], style, color=colour, label=method)
            extra = [extra_mb(r) for r in runs]
            memory_axis.plot(x, extra, style, color=colour, label=method)
        memory_axis.plot(sizes, sizes, "-", color="black", alpha=0.25, linewidth=4, label="model size")
        time_axis.set_title(f"{phase}: seconds")
        memory_axis.set_title(f"{phase}: extra memory, MiB\n(peak RSS over the baseline + spool files on a tmpfs)")
        memory_axis.set_xlabel("model size (MiB)")
        for axis in (time_axis, memory_axis):
            axis.set_xscale("log")
            axis.set_xticks(sizes, [f"{s:g}" for s in sizes])
            axis.minorticks_off()
            axis.set_ylim(bottom=0)
            axis.grid(alpha=0.3)
            axis.legend()
    figure.suptitle(f"Model handoff through {backend}: each phase in its own process, as a task (lower is better)")
    figure.savefig(path, dpi=100)
    plt.close(figure)
