"""Mutation operators for the input-reader fuzzer (tests/test_fuzz.py, bench/fuzz_inputs.py).

A mutation *plan* is a list of ``(operator name, integer)`` pairs; the integer seeds a
:class:`random.Random` that makes every choice inside that operator, so a plan (drawn by
hypothesis in the tests, by ``random`` in the bench) always gives the same bytes and a
failing case can be replayed from its plan alone.

Operators by file family (:data:`OPS`):

* every text family: byte flips, byte insert/delete, truncation, line delete/duplicate/swap,
  field delete/insert, a cell (or a header cell) replaced by a value from :data:`NASTY`,
  re-encoding (latin-1, cp1252, UTF-16 with and without BOM, a UTF-8 BOM), line endings (CRLF,
  lone CR, mixed, none at the end, trailing blank lines) and the empty file;
* ``yaml``: a value replaced by YAML junk, a key renamed, an indentation broken;
* ``json``: a value replaced by a value of another type, a key deleted, a list item repeated;
* ``vcf`` (text before bgzip and tabix): POS, REF/ALT, FORMAT and GT fields, sample columns,
  ``##`` header lines and the ``#CHROM`` line;
* ``bgzf`` (the bgzipped bytes, the old index kept): flips inside a block, truncation anywhere
  and at block boundaries, blocks deleted, repeated or swapped, the EOF block dropped, and a
  text mutation re-compressed into BGZF blocks;
* ``zip`` (PyPGx ``results.zip``): a member's text mutated and re-zipped, a member dropped or
  renamed, and byte-level damage.
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import zipfile
import zlib

#: Cell values that have broken parsers before: missing-value spellings, numbers that do not
#: fit, non-ASCII digits, NUL, a latin-1 byte, very long text, caller syntax, quotes, separators.
NASTY: tuple[bytes, ...] = (
    b"",
    b"NA",
    b"N/A",
    b".",
    b"-",
    b"-1",
    b"0",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"nan",
    b"NaN",
    b"inf",
    b"-inf",
    "\uff12".encode(),
    "\u0661\u0662".encode(),
    "\u22125".encode(),
    b"\x00",
    b"\xe9",
    b"\xff\xfe",
    b"x" * 5000,
    b"9" * 40,
    b"*1-*2",
    b"*1/*2/*3",
    b"*1/",
    b"./.",
    b"0|1",
    b"1/2/3",
    b'"',
    b"'",
    b'"quoted\tcell"',
    b"\t",
    b",",
    b"1,5",
    b" ",
    b"\r",
    b"true",
    b"None",
    b"null",
    b"<0",
    b"<",
    b"<-1",
    b"1.5",
    b"+5",
    b"0x10",
    b"1_000",
    b" 12 ",
    "\u2028".encode(),
    "\ufeff".encode(),
    "\U0001f642".encode(),
    b"#",
    b"# comment",
    b"*",
    b"<DEL>",
    b"A,,G",
    b"chr10",
    b"{",
    b"[",
    b"]",
    b"}",
    b":",
    b"- x",
    b"&a",
    b"*a",
    b"!!python/object:os.system",
    b"%YAML 1.1",
    b"---",
    b"...",
    b"\\",
    b"\x1b[31m",
    b"12345678901234567890",
)
JSON_JUNK = (
    None,
    0,
    -1,
    1.5,
    1e308,
    "",
    "NA",
    "\u00e9",
    "x" * 3000,
    True,
    [],
    {},
    [None],
    {"": None},
    "*1/*2/*3",
    "Unknown",
    float("nan"),
)
YAML_JUNK = (
    b"",
    b"~",
    b"null",
    b"[]",
    b"{}",
    b"-1",
    b"0",
    b"1e400",
    b".nan",
    b".inf",
    b"yes",
    b"no",
    b"'",
    b'"unterminated',
    b"[a, b",
    b"{a: 1",
    b"*anchor",
    b"&x 1",
    b"!!binary AAAA",
    b"!!python/name:os.system",
    b"2024-01-01",
    b"0o17",
    b"|",
    b">",
    b"? x",
    b"- - -",
    b"'\t'",
    b"\xe9",
    b"x" * 3000,
    b"- a\n- b",
)
VCF_FIELD_JUNK = (
    b".",
    b"",
    b"0",
    b"-5",
    b"99999999999",
    b"1.5",
    b"A",
    b"N",
    b"ACGTN",
    b"*",
    b"<DEL>",
    b"A,G",
    b"A,",
    b",",
    b"G,G",
    b"a",
    b"X",
    b"GT",
    b"GT:DP",
    b"DP",
    b"./.",
    b".|.",
    b"0/1",
    b"1|0",
    b"2/2",
    b"0/",
    b"/1",
    b"0//1",
    b"1/2/3",
    b"0|1|2",
    b"00/11",
    b"-1/0",
    b"10/0",
    b"0/1:35",
    b"0:1",
    b"\xe9",
    b"chr10",
    b"10",
    b"chrUn",
    b"1e3",
    b"\x00",
    b"x" * 2000,
)


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def _lines(data: bytes) -> list[bytes]:
    """Lines with their endings kept (so joining them gives the input back)."""
    return data.splitlines(keepends=True) or [b""]


def _pick_line(lines: list[bytes], r: random.Random, *, data_only: bool = False) -> int:
    cand = [i for i, ln in enumerate(lines) if ln.strip() and not (data_only and ln.startswith(b"#"))]
    if data_only and len(cand) > 1 and not lines[0].startswith(b"#"):
        cand = cand[1:]  # a header line without '#' (tables): prefer data lines
    return r.choice(cand) if cand else r.randrange(len(lines))


def _sep(line: bytes, fmt: str) -> bytes:
    if b"\t" in line:
        return b"\t"
    if b"," in line and fmt != "yaml":
        return b","
    return b": " if fmt == "yaml" and b": " in line else b" "


def _split_end(line: bytes) -> tuple[bytes, bytes]:
    body = line.rstrip(b"\r\n")
    return body, line[len(body) :]


# ------------------------------------------------------------------------- byte level


def byte_flip(data: bytes, r: random.Random, fmt: str) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    for _ in range(r.choice((1, 1, 2, 4))):
        i = r.randrange(len(b))
        b[i] ^= 1 << r.randrange(8)
    return bytes(b)


def byte_insert(data: bytes, r: random.Random, fmt: str) -> bytes:
    i = r.randrange(len(data) + 1)
    ins = r.choice(NASTY) if r.random() < 0.7 else bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
    return data[:i] + ins + data[i:]


def byte_delete(data: bytes, r: random.Random, fmt: str) -> bytes:
    if not data:
        return data
    i = r.randrange(len(data))
    return data[:i] + data[i + r.choice((1, 1, 2, 16, 256)) :]


def truncate(data: bytes, r: random.Random, fmt: str) -> bytes:
    if not data:
        return data
    if r.random() < 0.3:  # at a line boundary
        ends = [m.end() for m in re.finditer(rb"\n", data)]
        if ends:
            return data[: r.choice(ends)]
    return data[: r.randrange(len(data))]


def empty(data: bytes, r: random.Random, fmt: str) -> bytes:
    return r.choice((b"", b"\n", b"\xef\xbb\xbf", b" \n\n"))


# ------------------------------------------------------------------------- line level


def line_delete(data: bytes, r: random.Random, fmt: str) -> bytes:
    lines = _lines(data)
    del lines[_pick_line(lines, r)]
    return b"".join(lines)


def line_duplicate(data: bytes, r: random.Random, fmt: str) -> bytes:
    lines = _lines(data)
    i = _pick_line(lines, r)
    line = lines[i] if lines[i].endswith(b"\n") else lines[i] + b"\n"
    lines.insert(r.randrange(len(lines) + 1), line)
    return b"".join(lines)


def line_swap(data: bytes, r: random.Random, fmt: str) -> bytes:
    lines = _lines(data)
    if len(lines) < 2:
        return data
    i, j = r.sample(range(len(lines)), 2)
    a, ea = _split_end(lines[i])
    b, eb = _split_end(lines[j])
    lines[i], lines[j] = b + ea, a + eb
    return b"".join(lines)


def field_delete(data: bytes, r: random.Random, fmt: str) -> bytes:
    lines = _lines(data)
    i = _pick_line(lines, r)
    body, end = _split_end(lines[i])
    sep = _sep(body, fmt)
    cells = body.split(sep)
    del cells[r.randrange(len(cells))]
    lines[i] = sep.join(cells) + end
    return b"".join(lines)


def field_insert(data: bytes, r: random.Random, fmt: str) -> bytes:
    lines = _lines(data)
    i = _pick_line(lines, r)
    body, end = _split_end(lines[i])
    sep = _sep(body, fmt)
    cells = body.split(sep)
    cells.insert(r.randrange(len(cells) + 1), r.choice(NASTY))
    lines[i] = sep.join(cells) + end
    return b"".join(lines)


def _cell_junk(data: bytes, r: random.Random, fmt: str, *, header: bool) -> bytes:
    lines = _lines(data)
    if header:
        i = next((k for k, ln in enumerate(lines) if ln.strip() and not ln.startswith(b"##")), 0)
    else:
        i = _pick_line(lines, r, data_only=True)
    body, end = _split_end(lines[i])
    sep = _sep(body, fmt)
    cells = body.split(sep)
    cells[r.randrange(len(cells))] = r.choice(NASTY)
    lines[i] = sep.join(cells) + end
    return b"".join(lines)


def cell_junk(data: bytes, r: random.Random, fmt: str) -> bytes:
    return _cell_junk(data, r, fmt, header=False)


def header_junk(data: bytes, r: random.Random, fmt: str) -> bytes:
    return _cell_junk(data, r, fmt, header=True)


def encode(data: bytes, r: random.Random, fmt: str) -> bytes:
    text = data.decode("utf-8", errors="replace")
    how = r.choice(("latin-1", "cp1252", "utf-16", "utf-16-le", "utf-8-sig", "bom2", "latin1-one"))
    if how == "utf-8-sig":
        return b"\xef\xbb\xbf" + data
    if how == "bom2":
        return b"\xef\xbb\xbf\xef\xbb\xbf" + data
    if how == "latin1-one":  # one latin-1 character in an otherwise UTF-8 file
        i = r.randrange(len(data) + 1)
        return data[:i] + b"\xe9" + data[i:]
    return text.encode(how, errors="replace")


def newline(data: bytes, r: random.Random, fmt: str) -> bytes:
    how = r.choice(("crlf", "cr", "mixed", "strip_last", "blank_lines", "blank_inside"))
    if how == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if how == "cr":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    if how == "mixed":
        lines = _lines(data)
        i = r.randrange(len(lines))
        lines[i] = lines[i].rstrip(b"\r\n") + r.choice((b"\r\n", b"\r", b"\n\n"))
        return b"".join(lines)
    if how == "strip_last":
        return data.rstrip(b"\r\n")
    if how == "blank_lines":
        return data + r.choice((b"\n\n\n", b"\t\t\n", b"  \n", b"\r\n\r\n"))
    lines = _lines(data)
    lines.insert(r.randrange(len(lines) + 1), r.choice((b"\n", b"\t\n", b" \n", b",,,\n")))
    return b"".join(lines)


# ------------------------------------------------------------------------- YAML


def yaml_value(data: bytes, r: random.Random, fmt: str) -> bytes:
    lines = _lines(data)
    cand = [i for i, ln in enumerate(lines) if re.match(rb"^\s*(- )?[\w.]+:( |$)", ln) or ln.lstrip().startswith(b"- ")]
    if not cand:
        return cell_junk(data, r, fmt)
    i = r.choice(cand)
    body, end = _split_end(lines[i])
    m = re.match(rb"^(\s*(?:- )?(?:[\w.]+:)?\s*)(.*)$", body)
    lines[i] = m.group(1) + (b" " if not m.group(1).endswith(b" ") else b"") + r.choice(YAML_JUNK) + end
    return b"".join(lines)


def yaml_key(data: bytes, r: random.Random, fmt: str) -> bytes:
    lines = _lines(data)
    cand = [i for i, ln in enumerate(lines) if re.match(rb"^\s*(- )?[\w.]+:", ln)]
    if not cand:
        return data
    i = r.choice(cand)
    new = r.choice(
        (b"Cohort", b"inputs ", b"x", b"", b"1", b"null", b"\xe9", b"patients", b"vcf", b"seed", b"<<", b"? key")
    )
    lines[i] = re.sub(rb"[\w.]+(?=:)", lambda m: new, lines[i], count=1)
    return b"".join(lines)


def yaml_indent(data: bytes, r: random.Random, fmt: str) -> bytes:
    lines = _lines(data)
    i = _pick_line(lines, r)
    how = r.choice((b" ", b"  ", b"\t", b"dedent"))
    lines[i] = lines[i].lstrip(b" ") if how == b"dedent" else how + lines[i]
    return b"".join(lines)


# ------------------------------------------------------------------------- JSON


def _json_nodes(obj, path=()):
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_nodes(v, (*path, k))
    elif isinstance(obj, list):
        for k, v in enumerate(obj):
            yield from _json_nodes(v, (*path, k))


def _json_edit(data: bytes, r: random.Random, fmt: str, how: str) -> bytes:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return cell_junk(data, r, fmt)
    nodes = [(p, v) for p, v in _json_nodes(obj) if p]
    if not nodes:
        return json.dumps(r.choice(JSON_JUNK)).encode()
    path, _ = r.choice(nodes)
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if how == "value":
        parent[key] = r.choice(JSON_JUNK)
    elif how == "delete":
        del parent[key]
    elif isinstance(parent, list):
        parent.insert(key, parent[key])
    else:  # a dict: its value wrapped in a list, or the key renamed
        if r.random() < 0.5:
            parent[key] = [parent[key], parent[key]]
        else:
            parent[str(key).upper() + "_"] = parent.pop(key)
    return json.dumps(obj, indent=r.choice((None, 1))).encode()


def json_value(data: bytes, r: random.Random, fmt: str) -> bytes:
    return _json_edit(data, r, fmt, "value")


def json_delete(data: bytes, r: random.Random, fmt: str) -> bytes:
    return _json_edit(data, r, fmt, "delete")


def json_dup(data: bytes, r: random.Random, fmt: str) -> bytes:
    return _json_edit(data, r, fmt, "dup")


# ------------------------------------------------------------------------- VCF text


def _vcf_record(lines: list[bytes], r: random.Random) -> int | None:
    cand = [i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith(b"#")]
    return r.choice(cand) if cand else None


def vcf_field(data: bytes, r: random.Random, fmt: str) -> bytes:
    """A record's POS, REF, ALT, FORMAT or a sample (GT) field replaced by VCF junk."""
    lines = _lines(data)
    i = _vcf_record(lines, r)
    if i is None:
        return cell_junk(data, r, fmt)
    body, end = _split_end(lines[i])
    cells = body.split(b"\t")
    col = r.choice([c for c in (0, 1, 1, 3, 3, 4, 4, 8, 9, 9, 9, len(cells) - 1) if c < len(cells)])
    cells[col] = r.choice(VCF_FIELD_JUNK)
    lines[i] = b"\t".join(cells) + end
    return b"".join(lines)


def vcf_gt_all(data: bytes, r: random.Random, fmt: str) -> bytes:
    """Every GT of one record set to one odd value (a whole site missing, haploid, multi-allelic)."""
    lines = _lines(data)
    i = _vcf_record(lines, r)
    if i is None:
        return data
    body, end = _split_end(lines[i])
    cells = body.split(b"\t")
    val = r.choice((b"./.", b".", b"0", b"1", b"2/2", b"0/1/1", b"1|1", b"3/3"))
    cells[9:] = [val] * len(cells[9:])
    lines[i] = b"\t".join(cells) + end
    return b"".join(lines)


def vcf_header(data: bytes, r: random.Random, fmt: str) -> bytes:
    """A ## line deleted, repeated or damaged; or the #CHROM line's columns changed."""
    lines = _lines(data)
    meta = [i for i, ln in enumerate(lines) if ln.startswith(b"##")]
    chrom = next((i for i, ln in enumerate(lines) if ln.startswith(b"#CHROM")), None)
    how = r.choice(
        (
            "del_meta",
            "dup_meta",
            "junk_meta",
            "chrom_cols",
            "chrom_dup_sample",
            "chrom_drop_sample",
            "chrom_rename",
            "no_chrom",
            "build",
        )
    )
    if how.startswith("chrom") or how == "no_chrom" or not meta:
        if chrom is None:
            return vcf_field(data, r, fmt)
        body, end = _split_end(lines[chrom])
        cells = body.split(b"\t")
        if how == "no_chrom":
            del lines[chrom]
        elif how == "chrom_dup_sample" and len(cells) > 9:
            cells[r.randrange(9, len(cells))] = cells[9]
        elif how == "chrom_drop_sample" and len(cells) > 9:
            del cells[r.randrange(9, len(cells))]
        elif how == "chrom_rename":
            cells[r.randrange(len(cells))] = r.choice(NASTY)
        else:
            cells = cells[: r.randrange(1, len(cells) + 1)]
        if how != "no_chrom":
            lines[chrom] = b"\t".join(cells) + end
        return b"".join(lines)
    i = r.choice(meta)
    if how == "del_meta":
        del lines[i]
    elif how == "dup_meta":
        lines.insert(i, lines[i])
    elif how == "build":
        lines.insert(
            i,
            r.choice(
                (
                    b"##reference=GRCh37\n",
                    b"##reference=hg19\n",
                    b"##contig=<ID=chr10>\n",
                    b"##contig=<ID=10,assembly=b37>\n",
                    b"##contig=<ID=chr10,length=x>\n",
                )
            ),
        )
    else:
        body, end = _split_end(lines[i])
        j = r.randrange(len(body) + 1)
        lines[i] = body[:j] + r.choice((b"<", b">", b'"', b",", b"=", b"\xe9", b"\t")) + body[j:] + end
    return b"".join(lines)


# ------------------------------------------------------------------------- BGZF


def bgzf_blocks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each BGZF block, as far as the BSIZE fields can be followed."""
    out, i = [], 0
    while i + 18 <= len(data) and data[i : i + 4] == b"\x1f\x8b\x08\x04":
        (xlen,) = struct.unpack_from("<H", data, i + 10)
        bsize = None
        j = i + 12
        while j + 4 <= i + 12 + xlen and j + 4 <= len(data):
            slen = struct.unpack_from("<H", data, j + 2)[0]
            if data[j : j + 2] == b"BC" and slen == 2:
                bsize = struct.unpack_from("<H", data, j + 4)[0]
            j += 4 + slen
        if bsize is None:
            break
        out.append((i, min(i + bsize + 1, len(data))))
        i += bsize + 1
    return out


def bgzf_compress(text: bytes) -> bytes:
    """BGZF blocks of up to 64,000 input bytes and the EOF block (as bgzip writes them)."""
    out = []
    for k in range(0, len(text), 64000):
        chunk = text[k : k + 64000]
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = c.compress(chunk) + c.flush()
        head = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00"
        out.append(
            head
            + struct.pack("<H", len(head) + 2 + len(body) + 8 - 1)
            + body
            + struct.pack("<II", zlib.crc32(chunk), len(chunk))
        )
    out.append(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000"))
    return b"".join(out)


def bgzf_damage(data: bytes, r: random.Random, fmt: str) -> bytes:
    """Block-level damage: flip in a block, truncate at/near a boundary, delete/repeat/swap blocks."""
    blocks = bgzf_blocks(data)
    if not blocks:
        return byte_flip(data, r, fmt)
    how = r.choice(("flip_body", "flip_head", "cut_boundary", "cut_inside", "delete", "dup", "swap", "drop_eof"))
    s, e = r.choice(blocks)
    if how == "flip_body" and e - s > 26:
        b = bytearray(data)
        b[r.randrange(s + 18, e)] ^= 1 << r.randrange(8)
        return bytes(b)
    if how == "flip_head":
        b = bytearray(data)
        b[r.randrange(s, min(s + 18, e))] ^= 1 << r.randrange(8)
        return bytes(b)
    if how == "cut_boundary":
        return data[: max(0, s + r.choice((0, 0, 1, -1, 12, 18, 26)))]
    if how == "cut_inside":
        return data[: r.randrange(s, e)]
    if how == "delete":
        return data[:s] + data[e:]
    if how == "dup":
        return data[:e] + data[s:e] + data[e:]
    if how == "swap" and len(blocks) > 1:
        (s1, e1), (s2, e2) = sorted(r.sample(blocks, 2))
        return data[:s1] + data[s2:e2] + data[e1:s2] + data[s1:e1] + data[e2:]
    return data[: blocks[-1][0]]  # drop_eof (or a swap with one block): the last block goes


def bgzf_text(data: bytes, r: random.Random, fmt: str) -> bytes:
    """Decompress, apply one VCF text operator, recompress (the index now points at old offsets)."""
    import gzip

    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return byte_flip(data, r, fmt)
    op = r.choice(("vcf_field", "vcf_header", "line_delete", "line_duplicate", "line_swap", "vcf_gt_all"))
    return bgzf_compress(OPERATORS[op](text, r, "vcf"))


# ------------------------------------------------------------------------- zip


def zip_damage(data: bytes, r: random.Random, fmt: str) -> bytes:
    """A member's text mutated (and re-zipped), a member dropped or renamed, or the archive cut."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [(i, z.read(i)) for i in z.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, NotImplementedError):
        return byte_flip(data, r, fmt)
    if not members:
        return data
    how = r.choice(("text", "text", "text", "drop", "rename", "add"))
    k = r.randrange(len(members))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for j, (info, content) in enumerate(members):
            name = info.filename
            if j == k and how == "drop":
                continue
            if j == k and how == "rename":
                name = r.choice(("data.csv", "x/metadata.txt.bak", "data.tsv", "metadata.txt", "../data.tsv"))
            if j == k and how == "text":
                op = r.choice(TEXT_OPS)
                content = OPERATORS[op](content, r, "tsv")
            z.writestr(name, content)
        if how == "add":
            z.writestr(r.choice(("extra/data.tsv", "metadata.txt", "other/metadata.txt")), b"Gene=CYP2C19\n")
    return buf.getvalue()


OPERATORS = {
    f.__name__: f
    for f in (
        byte_flip,
        byte_insert,
        byte_delete,
        truncate,
        empty,
        line_delete,
        line_duplicate,
        line_swap,
        field_delete,
        field_insert,
        cell_junk,
        header_junk,
        encode,
        newline,
        yaml_value,
        yaml_key,
        yaml_indent,
        json_value,
        json_delete,
        json_dup,
        vcf_field,
        vcf_gt_all,
        vcf_header,
        bgzf_damage,
        bgzf_text,
        zip_damage,
    )
}

BYTE_OPS = ("byte_flip", "byte_insert", "byte_delete", "truncate")
TEXT_OPS = (
    *BYTE_OPS,
    "line_delete",
    "line_duplicate",
    "line_swap",
    "field_delete",
    "field_insert",
    "cell_junk",
    "cell_junk",
    "cell_junk",
    "header_junk",
    "encode",
    "newline",
)
#: Operators per file family (repeats weight the draw).
OPS: dict[str, tuple[str, ...]] = {
    "tsv": (*TEXT_OPS, "empty"),
    "yaml": (*TEXT_OPS, "empty", "yaml_value", "yaml_value", "yaml_value", "yaml_key", "yaml_indent"),
    "json": (*TEXT_OPS, "empty", "json_value", "json_value", "json_value", "json_delete", "json_delete", "json_dup"),
    "vcf": (
        *TEXT_OPS,
        "vcf_field",
        "vcf_field",
        "vcf_field",
        "vcf_field",
        "vcf_gt_all",
        "vcf_header",
        "vcf_header",
        "vcf_header",
    ),
    "bgzf": (*BYTE_OPS, "bgzf_damage", "bgzf_damage", "bgzf_damage", "bgzf_damage", "bgzf_text", "bgzf_text"),
    "zip": (*BYTE_OPS, "zip_damage", "zip_damage", "zip_damage", "zip_damage", "zip_damage"),
}


def mutate(data: bytes, fmt: str, plan: list[tuple[str, int]]) -> bytes:
    """Apply a plan's operators in order.

    >>> mutate(b"a\\tb\\n1\\t2\\n", "tsv", [("line_delete", 0)]) in (b"a\\tb\\n", b"1\\t2\\n")
    True
    """
    for name, seed in plan:
        data = OPERATORS[name](data, _rng(seed), fmt)
    return data


def random_plan(fmt: str, r: random.Random, max_ops: int = 3) -> list[tuple[str, int]]:
    """A plan drawn with ``random`` (the bench); tests draw the same shape with hypothesis."""
    n = min(max_ops, r.choice((1, 1, 1, 2, 2, 3)))
    return [(r.choice(OPS[fmt]), r.randrange(2**31)) for _ in range(n)]
