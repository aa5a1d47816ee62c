"""A structure-aware fuzzer for the whole tcpflow-explain command line.

Inputs are built from the sample captures and from generated conversations (tests/fuzz/mutators.py),
then mutated at the level of pcap records, pcapng blocks, gzip members, link/IP/TCP headers and
whole conversations. Each input is run through every output mode (tests/fuzz/runner.py); a run is
a finding when it exits with a code outside the documented set (5, a traceback, 2 on a good command
line), prints more than one error line, writes malformed output (tests/wellformed.py), takes over
10 s or 256 MB, or when `--jobs 2`, a pipe or a fresh process give other output or another exit
code than the one-process run, or the JSON, JSON Lines and summary outputs disagree.

A long campaign, findings minimized and saved (input, command line, outcome, signature):

    python -m tests.fuzz --minutes 60 --jobs 2 [--seed N] [--out DIR] [--modes MODE ...]

It prints a progress line every 30 s and at the end a table: inputs run, runs per mode, findings
per signature with the path of each minimized reproducer, the slowest run and the largest peak
memory (also written to DIR/report.txt and DIR/summary.json; the exit code is 1 when anything was
found). `--inputs N` runs a fixed count instead of a time budget (the same inputs every time for
one seed); `--modes` takes text json jsonl summary summary-json ladder mermaid svg explain zh all
policy variants jobs2-text jobs2-jsonl jobs2-policy stdin fresh. In CI, tests/test_fuzz_campaign.py
runs a fixed seed and count.
"""
