"""Burda et al.'s VAE and IWAE in minigen and PyTorch: learning curves, a projection, and the verdicts.

    python -m benchmarks.burda_report runs/burda/minigen runs/burda/torch runs/burda/minigen_k50 runs/burda/torch_k50

reads the ``result.json`` of each run of benchmarks/vae_burda.py given (a folder or the file;
any subset: the VAE k = 1 and the IWAE k = 50 runs, whichever exist, in a second or so) and writes

- ``--figure`` (default benchmarks/results/burda_curves.png): the test NLL on the curve's images
  (IWAE-100 on the first 2,000 test images) against the epoch for every run, each run's fitted
  projection, and the paper's 86.76 (VAE) and 84.78 (IWAE k = 50) nats as horizontal lines;
- ``--markdown`` (default benchmarks/results/burda.md): per run the final NLL (IWAE-5000 on the
  10,000 test images), the projection to 3280 epochs, the gap to the paper against the 2-nat
  target, epochs, wall time, threads and machine; per k, minigen - torch against the 0.5-nat
  parity target.

The projection. The paper trains for 3280 epochs (stages i = 0..7 of the schedule); a CPU run
stops far sooner (235 epochs, inside stage 5). The fit is NLL(epoch) = a + b * epoch^(-c), a power
law decaying to an asymptote a, fitted by least squares (for each c on a grid in [0.05, 3], a and b
in closed form) to the curve points after the first three stages (epoch > 13), past the fast
initial descent (at least 4 points; else the later half of the curve). The schedule is itself a
function of the epoch, so the fitted law extrapolates this run continued under the same schedule,
its later rate drops included on average, though not their steps. The projection is the fit at 3280
epochs moved by the run's own gap between the curve's estimator and the final one (final IWAE-5000
minus the curve's last point), so that it reads on the paper's scale (without a final score it stays
on the curve's, and says so). The plot shows each fit next to its points: read the projection as a
guide to where a run is heading, not a measurement.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks import result_page
from minigen import viz
from minigen.models.vae import BURDA_STAGES

PAPER_NLL = {1: 86.76, 50: 84.78}  # Burda et al. (2016), Table 1: one stochastic layer, VAE and IWAE k = 50
PAPER_EPOCHS = (3**BURDA_STAGES - 1) // 2  # 3^0 + ... + 3^7 = 3280
PARITY_TARGET, PAPER_TARGET = 0.5, 2.0  # nats: minigen vs torch, and each run vs the paper
EXPONENTS = np.geomspace(0.05, 3.0, 400)
FIT_AFTER_EPOCH = 1 + 3 + 9  # stages 0-2


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders (or their result.json files) of benchmarks/vae_burda.py")
    parser.add_argument("--markdown", default=str(result_page.RESULTS / "burda.md"))
    parser.add_argument("--figure", default=str(result_page.RESULTS / "burda_curves.png"))
    return parser.parse_args(argv)


def load_run(path):
    path = Path(path)
    path = path / "result.json" if path.is_dir() else path
    result = json.loads(path.read_text())
    result["path"] = str(path)
    return result


def curve_points(result):
    """(epochs, NLLs) of the curve points that carry a test NLL."""
    # "test_nll_iwae_100_2k": result.json files written before the checkpointed version of the script
    points = [(point["epoch"], point.get("test_nll", point.get("test_nll_iwae_100_2k"))) for point in result["curve"]]
    points = [(epoch, value) for epoch, value in points if value is not None]
    return np.array([epoch for epoch, _ in points], float), np.array([value for _, value in points], float)


def final_nll(result):
    """(k, NLL) of the run's final score, or (None, None) before it has one."""
    for key, value in result.items():
        if key.startswith("test_nll_iwae_") and key[len("test_nll_iwae_"):].isdigit():
            return int(key[len("test_nll_iwae_"):]), value
    return None, None


def fit_power_law(epochs, values):
    """(a, b, c) of the least-squares fit values = a + b * epochs^(-c), c on a grid; None with < 3 points."""
    if len(epochs) < 3:
        return None
    best = None
    for c in EXPONENTS:
        design = np.stack([np.ones_like(epochs), epochs ** -c], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, values, rcond=None)
        error = float(((design @ (a, b) - values) ** 2).sum())
        if best is None or error < best[0]:
            best = (error, float(a), float(b), float(c))
    return best[1:]


def later_points(epochs, values):
    """The curve points after the first three stages (if at least 4), else the later half of the curve."""
    later = epochs > FIT_AFTER_EPOCH
    if later.sum() >= 4:
        return epochs[later], values[later]
    return epochs[len(epochs) // 2:], values[len(epochs) // 2:]


def summarise(result):
    """The figures of one run for the tables and the plot."""
    epochs, values = curve_points(result)
    eval_k, final = final_nll(result)
    fit = fit_power_law(*later_points(epochs, values)) if len(epochs) else None
    projected = None
    if fit is not None:
        a, b, c = fit
        offset = final - values[-1] if final is not None else 0.0  # the curve's estimator -> the final one
        projected = a + b * PAPER_EPOCHS ** -c + offset
    trained = result["curve"][-1]["epoch"] if result["curve"] else 0
    name = Path(result["path"]).parent.name
    return {"label": f"{name} ({result['framework']}, k={result['k']})", "framework": result["framework"],
            "k": result["k"],
            "epochs": trained, "curve": (epochs, values), "fit": fit, "final": final, "eval_k": eval_k,
            "eval_images": result.get("eval_images"), "projected": projected, "paper": PAPER_NLL.get(result["k"]),
            "wall_seconds": result.get("train_seconds", 0.0) + result.get("eval_seconds", 0.0),
            "threads": result.get("threads"), "device": result.get("device", "cpu"),
            "machine": result.get("machine", {}).get("cpu", "not recorded"), "path": result["path"],
            # defaults: result.json files written before the checkpointed version of the script
            "curve_k": result.get("curve_k", 100), "curve_images": result.get("curve_images", 2000),
            "train_images": result.get("train_images", 60_000), "batch_size": result.get("batch_size"),
            "seed": result.get("settings", {}).get("seed", 0)}


def _nats(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def _verdict(difference, target):
    if difference is None:
        return "-"
    return f"{difference:+.2f} ({'within' if abs(difference) <= target else 'outside'} {target:g})"


def _threads(threads):
    if isinstance(threads, dict):
        return ", ".join(f"{name} {count}" for name, count in threads.items())
    return "-" if threads is None else str(threads)


def runs_table(runs):
    header = ["run", "epochs", "final NLL", "projected NLL at 3280 epochs", "paper", "final - paper",
              "projected - paper", "wall time", "threads", "device", "machine"]
    rows = []
    for run in runs:
        score = f"{_nats(run['final'])} (IWAE-{run['eval_k']}, {run['eval_images']} images)" if run["final"] else "-"
        gap = None if run["final"] is None or run["paper"] is None else run["final"] - run["paper"]
        projected_gap = None if run["projected"] is None or run["paper"] is None else run["projected"] - run["paper"]
        projected = _nats(run["projected"]) + (" (curve estimator)" if run["final"] is None and run["fit"] else "")
        rows.append([run["label"], run["epochs"], score, projected, _nats(run["paper"]),
                     _verdict(gap, PAPER_TARGET), _verdict(projected_gap, PAPER_TARGET),
                     f"{run['wall_seconds'] / 3600:.2f} h", _threads(run["threads"]), run["device"], run["machine"]])
    return result_page.table(header, rows)


def parity_table(runs):
    """minigen - torch for every minigen and torch run of the same k and length, on the final scores
    and on the last curve point both runs have."""
    rows = []
    for minigen in (run for run in runs if run["framework"] == "minigen"):
        for torch in (run for run in runs if run["framework"] == "torch"):
            if (torch["k"], torch["epochs"]) != (minigen["k"], minigen["epochs"]):
                continue
            final = None if minigen["final"] is None or torch["final"] is None else minigen["final"] - torch["final"]
            shared = sorted(set(minigen["curve"][0]) & set(torch["curve"][0]))
            curve = None
            if shared:
                curve = dict(zip(*minigen["curve"]))[shared[-1]] - dict(zip(*torch["curve"]))[shared[-1]]
            rows.append([minigen["label"], torch["label"], _verdict(final, PARITY_TARGET),
                         f"{_verdict(curve, PARITY_TARGET)} at epoch {int(shared[-1])}" if shared else "-"])
    return result_page.table(["minigen run", "torch run", "minigen - torch, final NLL", "minigen - torch, curve"],
                             rows)


def plot(runs, path):
    series = {}
    for run in runs:
        epochs, values = run["curve"]
        series[run["label"]] = (epochs, values)
        if run["fit"] is not None:
            a, b, c = run["fit"]
            grid = np.geomspace(max(epochs[0], 1.0), PAPER_EPOCHS, 200)
            series[f"{run['label']} fit: {a:.1f} + {b:.3g} e^-{c:.2f}"] = (grid, a + b * grid ** -c)
    references = {f"paper, k={k}: {value}": value for k, value in PAPER_NLL.items()}
    return viz.plot_curves(series, path, xlabel="epoch (log scale)", ylabel="test NLL (nats, curve estimator)",
                           title="Burda et al. VAE/IWAE: minigen vs PyTorch", reference_lines=references,
                           log_x=True, y_limits=(83.0, 105.0))


def _distinct(runs, key):
    return ", ".join(sorted({str(run[key]) for run in runs}))


def main(argv=None):
    args = parse_arguments(argv)
    runs = sorted((summarise(load_run(path)) for path in args.runs), key=lambda run: (run["k"], run["framework"]))
    plot([run for run in runs if len(run["curve"][0])], args.figure)
    sections = ["Runs (NLL in nats; the final NLL is the IWAE bound on the test images named):", runs_table(runs),
                f"Parity, minigen - torch (target: within {PARITY_TARGET} nats):", parity_table(runs),
                f"Learning curves (IWAE-{_distinct(runs, 'curve_k')} on the first {_distinct(runs, 'curve_images')} "
                f"test images) and their projections: ![curves]({Path(args.figure).name})"]
    samples = (f"{_distinct(runs, 'train_images')} dynamically binarised MNIST training images per epoch, batch "
               f"{_distinct(runs, 'batch_size')}; results read from {', '.join(run['path'] for run in runs)}")
    result_page.write_page(
        args.markdown, title="Burda et al. (2016) VAE and IWAE on binarised MNIST: minigen vs PyTorch",
        command=result_page.command_line("benchmarks.burda_report", argv), seed=_distinct(runs, "seed"),
        samples=samples, threads="; ".join(f"{run['label']}: {_threads(run['threads'])}" for run in runs),
        sections=sections,
        summary=f"Targets: minigen within {PARITY_TARGET} nats of PyTorch; each run within {PAPER_TARGET} nats of the "
                f"paper (86.76 VAE, 84.78 IWAE k = 50, after {PAPER_EPOCHS} epochs). Projection: NLL = a + b "
                "epoch^-c fitted to the curve after epoch 13 (see benchmarks/burda_report.py). The "
                "machine row is this report's; each run's CPU is in the runs table.")
    print(Path(args.markdown).read_text())
    return runs


if __name__ == "__main__":
    main()
