#!/usr/bin/env python3
"""Writes the hand-made inputs of tests/fuzz/corpus (edge-*.bin, regress-*.bin).

Each input is a program for fuzz_api.c, assembled here step by step with the same byte layout
as the readers of fuzz_api.c (read that file for the meaning of every byte). The opcode numbers
are taken from the OPCODES list of fuzz_api.c, so adding an opcode there keeps these valid.

    python3 tests/fuzz/handmade.py [corpus dir]     # default: tests/fuzz/corpus

Check what an input does with:  build/tests/fuzz/fuzz_api --trace tests/fuzz/corpus/<file>
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Opcodes, in the order of the OPCODES list of fuzz_api.c.
_src = open(os.path.join(HERE, "fuzz_api.c")).read()
_body = re.search(r"#define OPCODES\(X\)(.*?)\n\n", _src, re.S).group(1)
OPS = re.findall(r"X\((\w+)\)", _body)
NUM_OPS = len(OPS)

# Handle arguments (pick()): slot n is byte n (0..15); these are the other kinds.
NULL = 192                 # a NULL handle
def recent(k=0):           # the k-th most recently created handle
    return 208 + k
def stale(k=0):            # the k-th most recently created handle that has been freed
    return 224 + k
def invented(k=0):         # a value the library never returned (16 kinds)
    return 240 + k
OUT_NULL = 248             # rd_dst(): pass NULL as `out`

# rd_ext()/rd_batch() specials (byte -> value): 0 -> 240, -1 -> 241, -5 -> 242, 7 -> 243,
# 8 -> 244, INT64_MAX -> 246, INT64_MIN -> 247, 2^61 -> 248, 2^62 -> 249, 2^62+1 -> 250
EXT_ZERO, EXT_NEG, EXT_MAX, EXT_MIN, EXT_2_62, EXT_2_62_1 = 240, 241, 246, 247, 249, 250
# rd_size() specials: -1 -> 224, INT64_MIN -> 225, INT64_MAX -> 226, 2^61 -> 227, 2^62 -> 228
SIZE_NEG, SIZE_MIN, SIZE_MAX, SIZE_2_61, SIZE_2_62 = 224, 225, 226, 227, 228
# rd_pos() specials: -1 -> 224, INT64_MAX -> 227, 2^32 -> 228, 2^32+1 -> 229
POS_NEG, POS_MAX, POS_2_32, POS_2_32_1 = 224, 227, 228, 229
# rd_float(): byte b < 208 is (b - 104) / 16; specials:
F_ZERO, F_ONE, F_NAN, F_NEG_NAN, F_INF, F_NEG_INF, F_FLT_MAX, F_DENORMAL = (
    208, 210, 212, 213, 214, 215, 216, 219)
def f(x):                  # a small float, a multiple of 1/16 in [-6.5, 6.4375]
    b = int(round(x * 16)) + 104
    assert 0 <= b < 208
    return b

# Operation-code bytes (rd_unary_code(), rd_binary_code()): byte i < 232 selects DS_NEG + i % 11
# and DS_ADD + i % 6.
UNARY = {n: i for i, n in enumerate("neg exp log log10 sqrt abs sigmoid sin cos tan tanh".split())}
BINARY = {n: i for i, n in enumerate("add sub mul div pow max".split())}
ADD, SUB, MUL = BINARY["add"], BINARY["sub"], BINARY["mul"]
LEAF = 200                 # new_leaf_flags(): a plain leaf
VAR = 0                    # ... requires_grad
WEIGHT = 0x70              # ... requires_grad and not sample-dependent


class Prog:
    def __init__(self):
        self.b = bytearray()

    def op(self, name, *args):
        k = OPS.index(name)
        self.b.append(k if k < 4 else k + NUM_OPS)
        for a in args:
            if isinstance(a, (list, tuple, bytes, bytearray)):
                self.b.extend(a)
            else:
                self.b.append(a)
        return self


def shape(*ext, batch=0):
    """rd_shape(): rank byte, extent bytes, batch byte. Extent byte e < 232 means 1 + e % 6
    (so pass size - 1); batch byte b < 232 means 1 + b % 4."""
    assert len(ext) <= 3
    return [len(ext), *ext, batch]

def ext(n):                # the byte for extent n (1..6)
    assert 1 <= n <= 6
    return n - 1

def batch(n):              # the byte for batch n (1..4)
    assert 1 <= n <= 4
    return n - 1


def create(p, sh, dst, flags=LEAF):
    return p.op("CREATE", sh, dst, flags)

def full(p, sh, value, dst, flags=LEAF):
    return p.op("FULL", sh, value, dst, flags)


def programs():
    progs = {}

    # --- reproducers of library bugs found by this fuzzer, now fixed (see README.md) ------
    # A new, unfixed finding goes in as crash-<what> and is renamed regress-<what> once fixed.

    # ds_reverse_index(x, NULL, 0, false, 2^61, &out): allocates new_index_size entries before
    # any check: Rust "capacity overflow" panic -> DS_ERR_INTERNAL (expected DS_ERR_ARGUMENT).
    p = Prog()
    create(p, shape(ext(2), batch=batch(1)), 0)
    p.op("REVERSE_INDEX", 0, 1, 0, 0, 0, SIZE_2_61)  # a, dst, dim 1, from=false, n=0, size
    progs["regress-reverse-index-capacity-overflow"] = p

    # ds_spread(x, 2, 1, 2^62, &out): builds its index map (ncopies * E entries) before checking
    # the result size: memory grows until allocation fails and the process aborts.
    p = Prog()
    create(p, shape(ext(2), batch=batch(1)), 0)
    p.op("SPREAD", 0, 1, 1, 1, SIZE_2_62)             # a, dst, dim 2, index 1, ncopies
    progs["regress-spread-unbounded-map"] = p

    # ds_concat(x, x, 1, &out) with x of rank 0: slices shape[..rank - 1]: panic
    # "range end index 18446744073709551615 out of range" -> DS_ERR_INTERNAL.
    p = Prog()
    create(p, shape(batch=batch(1)), 0)
    p.op("CONCAT", 0, 0, 0, 1)                         # a, b, dim 1, dst
    progs["regress-concat-rank0"] = p

    # ds_array_set_id(x, 42); ds_graph_find_id(x, 42, NULL): the found array gets a handle
    # before `out` is checked: DS_ERR_NULL, and a handle (and its array) leaks.
    p = Prog()
    create(p, shape(ext(3), batch=batch(1)), 0)
    p.op("SET_ID", 0, 7)                               # ids[7] = 42
    p.op("FIND_ID", 0, 7, OUT_NULL)
    progs["regress-find-id-null-out-leak"] = p

    # ds_array_set_custom(x, op, {y}); ds_array_set_custom(y, op, {x}): only a direct self-input
    # is refused, so two leaves can be made each other's input: a reference cycle, never freed.
    p = Prog()
    p.op("CUSTOM_CREATE", 0, 4)                        # variant "scale", name of 5 chars
    create(p, shape(ext(2), batch=batch(1)), 0)
    create(p, shape(ext(2), batch=batch(1)), 1)
    p.op("SET_CUSTOM", 0, 0, [1, 1])                   # a = slot 0, op 0, inputs {slot 1}
    p.op("SET_CUSTOM", 1, 0, [1, 0])                   # a = slot 1, op 0, inputs {slot 0}
    progs["regress-set-custom-cycle-leak"] = p

    # g = ds_array_grad(x) (a handle to x's gradient array); ds_array_set_custom(g, op, {x}):
    # x holds its gradient and the gradient now refers to x: a cycle, never freed (found after
    # direct input cycles were refused).
    p = Prog()
    p.op("CUSTOM_CREATE", 0, 4)
    create(p, shape(ext(2), batch=batch(1)), 0)
    p.op("GRAD_DATA", 0, 0)                            # creates x's (zero) gradient
    p.op("GRAD", 0, 1)                                 # slot 1 = x's gradient
    p.op("SET_CUSTOM", 1, 0, [1, 0])                   # set_custom(g, op, {x})
    progs["regress-set-custom-grad-cycle-leak"] = p

    # A custom operation applied to an input whose batch (2) neither equals the result's (3)
    # nor is 1; reverse mode then fails with DS_ERR_INTERNAL ("reverse rule ... produced
    # extents") although the reverse rule filled exactly the documented (E_k, grad_batch).
    p = Prog()
    p.op("CUSTOM_CREATE", 0, 4)
    create(p, shape(ext(2), batch=batch(2)), 0, VAR)
    p.op("CUSTOM_APPLY", 0, [1, 0], 128, shape(ext(2), batch=batch(3)), 1)
    p.op("GRAD_REVERSE", 1, 0)                         # seed NULL
    progs["regress-custom-batch-mismatch-internal"] = p

    # w [6], x [2,3] (requires_grad): y = w + x has shape [6] (the left operand's), but its
    # forward-mode tangent keeps x's shape [2,3]; ds_grad_forward(dot(y, y), x) then fails with
    # DS_ERR_SHAPE ("dot_product: both operands must be vectors") although reverse mode works.
    p = Prog()
    create(p, shape(ext(2), ext(3), batch=batch(1)), 0, VAR)
    create(p, shape(ext(6), batch=batch(1)), 1)
    p.op("BINARY", ADD, 1, 0, 2)
    p.op("DOT", 2, 2, 3)
    p.op("GRAD_REVERSE", 3, 0)
    p.op("GRAD_FORWARD", 3, 0, 4)
    progs["regress-forward-tangent-shape"] = p

    # --- edge cases -----------------------------------------------------------------------

    # Every kind of call with NULL handles and NULL output pointers.
    p = Prog()
    for name in OPS:
        if name in ("CREATE", "FULL", "FROM_DATA", "WRAP", "MOVE_SLOT", "LIVE_COUNTS"):
            continue
        p.op(name, [NULL] * 12)
    p.op("CREATE", [237, 1, 1], OUT_NULL, LEAF)        # rank 1 with a NULL shape pointer
    p.op("FULL", shape(ext(2)), F_ONE, OUT_NULL, LEAF)
    p.op("FROM_DATA", shape(ext(2)), 250, 0, LEAF)     # data NULL
    p.op("WRAP", shape(ext(2)), 250, 0, LEAF)
    progs["edge-null-everything"] = p

    # Freed handles: every call on a stale handle, then double frees.
    p = Prog()
    create(p, shape(ext(3), batch=batch(2)), 0, VAR)
    create(p, shape(ext(3), batch=batch(2)), 1, VAR)
    p.op("BINARY", BINARY["mul"], 0, 1, 2)
    p.op("FREE", 0)
    p.op("FREE", 1)
    for name in OPS:
        if name in ("CREATE", "FULL", "FROM_DATA", "WRAP", "MOVE_SLOT", "LIVE_COUNTS"):
            continue
        p.op(name, [stale(0), stale(1), 3, 2, 1, stale(0), 1, 0, 2, 1, 1, 1])
    p.op("FREE", stale(0)).op("FREE", stale(1)).op("FREE", 0)
    p.op("GRAD_REVERSE", 2, 0).op("GRAD_FORWARD", 2, 2, 3)
    progs["edge-stale-handles"] = p

    # Invented handle values (never returned by the library).
    p = Prog()
    create(p, shape(ext(2)), 0, VAR)
    for k in range(16):
        p.op("SHARE", invented(k), 1)
        p.op("FREE", invented(k))
        p.op("BINARY", BINARY["add"], 0, invented(k), 1)
        p.op("IS_LIVE", invented(k), 0)
    for name in OPS:
        if name in ("CREATE", "FULL", "FROM_DATA", "WRAP", "MOVE_SLOT", "LIVE_COUNTS"):
            continue
        p.op(name, [invented(3), invented(7), 1, 2, 3, invented(9), 0, 1, 1, 1, 1, 1])
    progs["edge-invented-handles"] = p

    # Zero and negative sizes, extents, batches, positions and counts.
    p = Prog()
    for e in (EXT_ZERO, EXT_NEG, 242, 252, 254):
        create(p, shape(e), 0)
        create(p, shape(ext(2), batch=e), 0)
        full(p, shape(ext(1), e), F_ONE, 1)
        p.op("FROM_DATA", shape(e), 3, 2, 1, 1, LEAF)
        p.op("WRAP", shape(ext(2), batch=e), 0, 3, 1, 1, LEAF)
    create(p, shape(ext(3), ext(2), batch=batch(2)), 4, VAR)
    for s in (0, SIZE_NEG, SIZE_MIN, 239):
        p.op("UNSPREAD", 4, 5, 0, 1, s)
        p.op("SUM_PAD", 4, 5, 1, 0, s)
        p.op("UNPACK_INDICES", 4, 5, 0, [2, 1, 2], s)
        p.op("SLICE", 4, 5, 0, 0, s)
        p.op("RESHAPE", 4, 5, 0, [2, s, 0, 0])
        p.op("UNPACK_MASK", 4, 5, 0, [2, s, s], [1, 1])
        p.op("INDEX", 4, 5, 0, [3, 0, POS_NEG, 1])
        p.op("PACK_INDICES", 4, 5, 1, [2, POS_NEG, 0])
        p.op("SUM", 4, 0, 5).op("MEAN", 4, 1, 5).op("SUM", 4, 216, 5).op("MEAN", 4, 219, 5)
    p.op("GRAD_REVERSE", 4, 67, 0, 0)                  # a seed of the wrong length
    p.op("SET_DIRECTION", 4, 6, 0, 0)                  # a direction of the wrong length
    progs["edge-zero-negative-sizes"] = p

    # Huge sizes: INT64_MAX, INT64_MIN, 2^61, 2^62, 2^62 + 1 (4 * that wraps to 4), rank 8.
    p = Prog()
    p.op("CUSTOM_CREATE", 0, 4)
    for e in (EXT_MAX, EXT_MIN, 248, EXT_2_62, EXT_2_62_1, 251, 253, 255):
        create(p, shape(e, batch=batch(1)), 0)
        create(p, shape(ext(4), e, batch=e), 0)
        full(p, shape(ext(2), batch=e), F_NAN, 1)
        p.op("FROM_DATA", shape(e, ext(4)), 0, 2, 1, 1, LEAF)
        p.op("WRAP", shape(EXT_2_62_1, ext(4), batch=batch(1)), 196, 3, 1, 1, LEAF)  # len 4
        p.op("CUSTOM_APPLY", 0, [1, 0], 129, shape(e, ext(1)), 5)
    p.op("CREATE", [249, 5, 5, 5, 5, 5, 5, 5, 5, 3], 6, LEAF)  # rank 8, 6^8 x 4 (clamped)
    create(p, shape(ext(2), ext(3), batch=batch(4)), 7, VAR)
    for s in (SIZE_MAX, SIZE_MIN, SIZE_2_61, SIZE_2_62, 233, 234, 236):
        p.op("UNSPREAD", 7, 8, 0, 1, s)
        p.op("SUM_PAD", 7, 8, 1, 1, s)
        p.op("UNPACK_INDICES", 7, 8, 0, [1, 1], s)
        p.op("UNPACK_MASK", 7, 8, 0, [2, s, 3], [0])
        p.op("RESHAPE", 7, 8, 0, [2, s - 224 + 240, s - 224 + 240, 0])
    for pos in (POS_MAX, POS_2_32, POS_2_32_1, 230, 231, 239):
        p.op("SLICE", 7, 8, 0, 0, pos)
        p.op("INDEX", 7, 8, 0, [2, pos, 1])
        p.op("PACK_INDICES", 7, 8, 1, [1, pos])
        p.op("UNSPREAD", 7, 8, 1, pos, 4)
        p.op("INPUT", 7, 240 + pos % 4, 0, 9)
    # rd_matrix(): byte >= 224 then a second byte: rows, cols from {0, SIZE_MAX, 2^32, 2^63,
    # 1, 65536, 7, 3}; an overflowing product keeps the odd value with 0 on the other side.
    for r, c in ((1, 5), (1, 0), (2, 2), (3, 4), (0, 1), (5, 5)):
        p.op("BINARY_REAL2D", ADD, 7, 0, 9, 224 + r, c, 0, 0)
        p.op("REAL2D_BINARY", MUL, 7, 0, 9, 224 + r, c, 0, 0)
        p.op("MATMUL_REAL2D", 7, 0, 9, 224 + r, c, 0, 0)
        p.op("REAL2D_MATMUL", 7, 0, 9, 224 + r, c, 0, 0)
        p.op("MERGE_REAL2D", 7, f(1), 3, 9, 224 + r, c, 0, 0, 0, 0)
    progs["edge-huge-sizes"] = p

    # NaN, infinities, denormals and extremes through every element-wise operation, both
    # modes of differentiation, seeds and directions.
    p = Prog()
    for i, v in enumerate((F_NAN, F_INF, F_NEG_INF, F_FLT_MAX, F_DENORMAL, F_ZERO)):
        full(p, shape(ext(3), batch=batch(2)), v, i, VAR)
    for i in range(6):
        for u in UNARY.values():
            p.op("UNARY", u, i, 6)
            p.op("GRAD_FORWARD", 6, i, 7)
            p.op("GRAD_REVERSE", 6, 65, 1, 224)        # seed with NaN/Inf mixed in
        for b in BINARY.values():
            p.op("BINARY", b, i, (i + 1) % 6, 8)
            p.op("BINARY_SCALAR", b, i, F_NAN, 9)
            p.op("SCALAR_BINARY", b, i, F_NEG_INF, 9)
        p.op("GAUSSIAN", i, F_NAN, F_INF, 10)
        p.op("GAUSSIAN", i, f(0), F_ZERO, 10)
        p.op("SIGN", i, F_NAN, 10)
        p.op("SET_DIRECTION", i, 1, 1, 255)
        p.op("GRAD_FORWARD", 8, i, 11).op("GRAD_REVERSE", 8, 255, 7, 255)
        p.op("MATMUL", i, 8, 12).op("DOT", i, (i + 2) % 6, 12).op("OUTER", i, i, 12)
        p.op("MEAN_ALL", i, 13).op("SUM", i, 1, 13).op("MEAN", i, 0, 13)
        p.op("MERGE_SCALAR", i, F_NAN, 0, 13, 1, 255)
    progs["edge-nan-inf-values"] = p

    # Wrapped caller buffers: results outlive the wrapping handle; in-place writes.
    p = Prog()
    p.op("WRAP", shape(ext(4), batch=batch(2)), 0, 0, 9, 7, VAR)
    p.op("WRAP", shape(ext(4), batch=batch(1)), 0, 1, 3, 1, WEIGHT)
    p.op("BINARY", BINARY["mul"], 0, 1, 2)
    p.op("UNARY", UNARY["tanh"], 2, 3)
    p.op("FREE", 0).op("FREE", 1)
    p.op("DATA", 3, 3, 1, f(2), 2, F_NAN, 3, f(-1))
    p.op("GRAD_REVERSE", 3, 0)
    p.op("GRAD_FORWARD", 3, 3, 4)
    p.op("GRAD_DATA", 2, 2, 0, f(1), 5, f(3))
    p.op("NULLIFY", 3).op("DUPLICATE", 2, 5).op("FREE", 2)
    p.op("GRAPH_PRINT", 5, 10).op("GRAPH_PRINT", 5, 5)
    progs["edge-wrap-lifetime"] = p

    # Custom operations of every variant: applied, differentiated both ways (twice), freed
    # before and after their arrays, invalid names.
    p = Prog()
    for v in range(8):
        p.op("CUSTOM_CREATE", v, 3 + v)
    p.op("CUSTOM_CREATE", 0, 225)                      # empty name
    p.op("CUSTOM_CREATE", 1, 226)                      # 33+ characters
    p.op("CUSTOM_CREATE", 241, 3).op("CUSTOM_CREATE", 245, 3).op("CUSTOM_CREATE", 249, 3)
    create(p, shape(ext(3), batch=batch(2)), 0, VAR)
    create(p, shape(ext(3), batch=batch(1)), 1, WEIGHT)
    for v in range(8):
        p.op("CUSTOM_APPLY", v, [2, 0, 1], 1, shape(ext(1)), 2 + v, f(0.5), 3)
        p.op("GRAD_FORWARD", 2 + v, 0, 12)
        p.op("GRAD_REVERSE", 2 + v, 0)
        p.op("GRAD_FORWARD", 12, 1, 13)
        p.op("GRAD_REVERSE", 12, 0)
    p.op("CUSTOM_FREE", 0).op("CUSTOM_FREE", 0).op("CUSTOM_FREE", 200).op("CUSTOM_FREE", 255)
    p.op("CUSTOM_APPLY", 0, [1, 0], 0, shape(ext(3)), 14)  # a freed operation
    p.op("CUSTOM_APPLY", 1, [0], 0, shape(ext(3)), 14)     # no inputs
    p.op("CUSTOM_APPLY", 1, [251, 0], 0, shape(ext(3)), 14)  # inputs NULL
    create(p, shape(ext(3), batch=batch(2)), 15, LEAF)
    p.op("SET_CUSTOM", 15, 1, [2, 0, 1]).op("SET_CUSTOM", 15, 1, [1, 0])
    p.op("SET_CUSTOM", 15, 2, [1, 15])                 # its own input
    p.op("GRAD_REVERSE", 15, 0).op("GRAPH_PRINT", 15, 2).op("OPERATION", 15, 3)
    progs["edge-custom-ops"] = p

    # Adoption and claims: owners freed first, objects freed first, claims twice.
    p = Prog()
    for i in range(6):
        create(p, shape(ext(2)), i, VAR)
    p.op("ADOPT", 0, 1, 0).op("ADOPT", 0, 1, 0).op("ADOPT", 1, 2, 0).op("ADOPT", 2, 3, 0)
    p.op("ADOPT", 4, 4, 0).op("ADOPT", 5, 0, 0).op("ADOPT", 5, NULL, 0)
    p.op("ADOPT", 0, 5, 241).op("ADOPT", 0, 5, 245).op("ADOPT", 0, 5, 250)
    p.op("CLAIM", 3, 0).op("CLAIM", 5, 0).op("CLAIM", 5, 0).op("CLAIM", stale(0), 0)
    p.op("FREE", 0).op("NULLIFY", 1).op("LIVE_COUNTS").op("FREE", 2).op("FREE", 5)
    p.op("IS_LIVE", 3, 0).op("IS_LIVE", 4, 0).op("LIVE_COUNTS")
    progs["edge-adopt-claim"] = p

    # A long chain on one slot and a wide DAG sharing its nodes: forward and reverse mode,
    # second order, duplicate_graph, detach, nullify, printing (truncated text, small buffers).
    p = Prog()
    create(p, shape(ext(2), ext(2), batch=batch(3)), 0, VAR)
    p.op("SHARE", 0, 1)
    for i in range(40):
        if i % 3 == 0:
            p.op("BINARY", BINARY["add"], 1, 1, 1)
        elif i % 3 == 1:
            p.op("UNARY", UNARY["sin"], 1, 1)
        else:
            p.op("BINARY", BINARY["mul"], 1, 0, 1)
    p.op("SET_ID", 0, 7).op("FIND_ID", 1, 7, 2).op("FIND_ID", 1, 3, 2)
    p.op("GRAD_FORWARD", 1, 0, 3).op("GRAD_FORWARD", 3, 0, 4).op("GRAD_REVERSE", 4, 0)
    p.op("GRAPH_PRINT", 1, 2).op("GRAPH_PRINT", 4, 5).op("GRAPH_PRINT", 4, 10)
    p.op("OPERATION", 1, 1).op("OPERATION", 1, 6).op("NUM_INPUTS", 1, 0).op("INPUT", 1, 1, 0, 5)
    p.op("DUPLICATE", 4, 6).op("DETACH", 3).op("ZERO_ALL_GRADS", 6).op("NULLIFY", 1)
    p.op("GRAD_REVERSE", 6, 0).op("GRAD", 0, 7).op("ZERO_GRAD", 0).op("GRAD_DATA", 0, 0)
    progs["edge-deep-chain"] = p

    # Broadcasting, weights shared by the batch, matrices, data movement with good arguments.
    p = Prog()
    create(p, shape(ext(3), ext(2), batch=batch(4)), 0, VAR)       # x [3,2] x 4
    create(p, shape(ext(2), ext(3), batch=batch(1)), 1, WEIGHT)    # W [2,3] shared
    create(p, shape(ext(3), batch=batch(4)), 2, VAR)               # v [3] x 4
    p.op("MATMUL", 1, 0, 3).op("MATMUL", 0, 1, 4).op("MATMUL", 1, 2, 5).op("TRANSPOSE", 0, 6)
    p.op("DOT", 2, 2, 7).op("OUTER", 2, 2, 8).op("BINARY", BINARY["add"], 0, 6, 9)
    p.op("CONCAT", 0, 0, 0, 10).op("CONCAT", 0, 0, 1, 10).op("CONCAT", 2, 2, 1, 11)
    p.op("SLICE", 0, 12, 0, 0, 2).op("SLICE", 0, 12, 1, 3, 1).op("SPREAD", 2, 13, 0, 2, 3)
    p.op("UNSPREAD", 2, 13, 1, 2, 5).op("SUM_PAD", 2, 13, 0, 1, 3)
    p.op("INDEX", 0, 14, 0, [3, 4, 1, 4]).op("REVERSE_INDEX", 0, 14, 0, 1, [2, 1, 2], 3)
    p.op("PACK_MASK", 2, 15, 0, 0, 3, 9).op("PACK_INDICES", 2, 15, 0, [2, 3, 1])
    p.op("UNPACK_MASK", 2, 15, 0, [2, 5, 4], [3, 1, 3, 5])
    p.op("UNPACK_INDICES", 2, 15, 0, [3, 1, 2, 3], 4).op("RESHAPE", 0, 12, 0, [2, 5, 0, 0])
    p.op("MERGE", 0, 9, f(0), 0, 13, 4, 4).op("SCALAR_MERGE", 0, f(2), 1, 13, 5, 5)
    p.op("BINARY_REAL1D", ADD, 0, 0, 12, 0, 1, 1).op("BINARY_REAL1D", SUB, 0, 0, 12, 1, 1, 1)
    p.op("BINARY_REAL2D", MUL, 2, 0, 12, 0, 1, 1).op("REAL2D_BINARY", ADD, 2, 0, 12, 0, 1, 1)
    p.op("MATMUL_REAL2D", 2, 0, 12, 3, 1, 1).op("REAL2D_MATMUL", 2, 0, 12, 1, 1, 1)
    for r in (3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15):
        p.op("SUM_ALL", r, r).op("GRAD_REVERSE", r, 0).op("GRAD_FORWARD", r, 2, r)
    progs["edge-broadcast-movement"] = p

    # Flags: every code, invalid codes, masks with unknown bits, forward flag set by hand.
    p = Prog()
    create(p, shape(ext(2), batch=batch(2)), 0)
    for code in range(256):
        p.op("SET_FLAG", 0, code, code & 1)
        p.op("GET_FLAG", 0, code, code)
    for m in (224, 225, 226, 227, 228, 229, 230, 231):
        p.op("SET_FLAGS", 0, m, 224)
        p.op("FLAGS", 0, 0)
    p.op("UNARY", UNARY["exp"], 0, 1).op("GRAD_FORWARD", 1, 0, 2).op("GRAD_REVERSE", 1, 0)
    p.op("ERRORS", 5, 65, 66, 67, 68, 69).op("ERRORS", 250).op("ERRORS", 3)
    progs["edge-flags"] = p

    return progs


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    for name, p in sorted(programs().items()):
        with open(os.path.join(out, name + ".bin"), "wb") as fh:
            fh.write(bytes(p.b))
        print(f"{name}.bin: {len(p.b)} bytes")


if __name__ == "__main__":
    main()
