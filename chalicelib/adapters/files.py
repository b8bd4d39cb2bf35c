"""Files in S3: presigned form uploads, streamed reads, streamed writes, presigned downloads."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.ports import UploadTicket

READ_CHUNK = 1 << 20


class _LinesReader(io.RawIOBase):
    """A readable byte stream over text lines, so boto3 can upload it in parts as it is produced."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self._pending = b""
        self.written = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._pending) < len(buffer):
            line = next(self._lines, None)
            if line is None:
                break
            self._pending += line.encode("utf-8")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.written += size
        return size


class S3FileStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def upload_ticket(self, key: str, max_bytes: int, expires_s: int) -> UploadTicket:
        post = self._client.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": "text/csv"},
            Conditions=[["content-length-range", 1, max_bytes], {"Content-Type": "text/csv"}],
            ExpiresIn=expires_s,
        )
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_s)
        return UploadTicket(url=post["url"], fields=dict(post["fields"]), expires_at=expires_at, key=key)

    def read_chunks(self, key: str) -> Iterator[bytes]:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(key) from error
            raise
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def write_lines(self, key: str, lines: Iterable[str], content_type: str) -> int:
        reader = _LinesReader(lines)
        self._client.upload_fileobj(
            io.BufferedReader(reader, READ_CHUNK),
            self._bucket,
            key,
            ExtraArgs={"ContentType": content_type},
        )
        return reader.written

    def download_url(self, key: str, expires_s: int, filename: str) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_s,
        )
        return url
