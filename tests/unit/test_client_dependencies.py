"""The client's promise: pydantic and httpx only (the rest is optional and imported on use)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: Packages the base install does not have; importing the client must not need any of them.
NOT_IN_THE_BASE_INSTALL = [
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "pydantic_settings",
    "rosbags",
    "lz4",
    "zstandard",
    "mcap",
    "tqdm",
    "click",
    "moto",
    "yaml",
    "numpy",
    "PIL",
]


def test_client_imports_and_builds_without_server_or_optional_packages() -> None:
    script = textwrap.dedent(
        f"""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {NOT_IN_THE_BASE_INSTALL!r}:
                    raise ImportError(f"blocked: {{name}}")
                return None

        sys.meta_path.insert(0, Block())
        from openlqs import LogQS
        from openlqs.formats.compression import decompress
        import bz2

        from openlqs.formats.messages import decode_message

        lqs = LogQS(api_url="http://127.0.0.1:9", datastore_id="00000000-0000-0000-0000-000000000001")
        assert lqs.resource.Group.__name__ == "Group"
        assert decompress(bz2.compress(b"chunk"), "bz2") == b"chunk"
        # JSON messages (an MCAP json channel) decode without anything installed
        assert decode_message("json", "MouseEvent", "{{}}", b'{{"x": 1}}') == {{"x": 1}}
        # a zstd chunk needs zstandard only when one is read, and says so
        try:
            decompress(bytes(40), "zstd_mcap")
        except ValueError as error:
            assert "zstandard" in str(error), error
        else:
            raise AssertionError("a zstd_mcap chunk decompressed without zstandard")
        print("ok")
        """
    )

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
