"""On a machine with a CUDA device (CTest label `gpu`, not in the default run: `ctest -L gpu`):
embed on CUDA gives the CPU's vectors to float tolerance, and bf16/fp16 autocast stays close."""

import numpy as np

from conftest import EXIT_OK, Audiosim, tone, write_wav
from test_embed import read_vectors


def test_cuda_vectors_match_cpu(tmp_path, library):
    for i in range(12):
        write_wav(library / f"g{i}.wav", tone(seconds=0.5 + 0.3 * i, rate=44100, channels=2, seed=i), rate=44100)
    runs = {}
    for device, precision in [("cpu", "fp32"), ("cuda", "fp32"), ("cuda", "bf16"), ("cuda", "fp16")]:
        store = Audiosim(tmp_path / f"{device}-{precision}", library)
        store.run("ingest", ".", check_code=EXIT_OK)
        result = store.run("embed", "--device", device, "--precision", precision, check_code=EXIT_OK)
        assert f"on {'cuda:0' if device == 'cuda' else 'cpu'}" in result.stderr.decode()
        runs[(device, precision)] = read_vectors(store.store)
    cpu = runs[("cpu", "fp32")]
    for chunk_id, (_, vector) in cpu.items():
        assert np.abs(runs[("cuda", "fp32")][chunk_id][1] - vector).max() < 1e-4, "CUDA fp32 = CPU to float tolerance"
        for precision in ("bf16", "fp16"):
            assert float(np.dot(runs[("cuda", precision)][chunk_id][1], vector)) > 0.99, precision
