"""The journal shared by several processes (the shards of `mirror-hf synthesize faces`, one per GPU): each process
trims a torn tail before it appends, as every resumable command does at its start, while the others append long
lines; no line is torn, cut or lost."""

import json
import subprocess
import sys
import textwrap

from mirror_hf.journal import read_records

WRITER = textwrap.dedent(
    """
    import sys
    from mirror_hf.journal import append_record, trim_torn_tail
    path, who = sys.argv[1], sys.argv[2]
    for n in range(150):
        trim_torn_tail(path)
        append_record(path, {"id": f"{who}-{n}", "text": who * 40_000})  # far over one write buffer
    """
)


def test_processes_appending_to_one_journal_lose_and_tear_nothing(tmp_path):
    path = tmp_path / "faces.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), who], stderr=subprocess.PIPE, text=True)
        for who in "abc"
    ]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    lines = path.read_text().splitlines()
    assert len(lines) == 3 * 150
    records = read_records(path, key=lambda r: r["id"])
    assert len(records) == 3 * 150
    assert all(r["text"] == r["id"][0] * 40_000 for r in records)
    assert all(json.loads(line)["id"] for line in lines)
