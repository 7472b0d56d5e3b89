"""A read-only, seekable file over ranged reads of a remote file, with an LRU cache of fixed-size blocks.

h5py reads a step file in many small pieces at scattered offsets (the superblock, object headers,
B-tree nodes, then the chunks of the one dataset asked for). Fetching the whole file for that would move
megabytes to read kilobytes; one request per piece would pay a round trip per few bytes. This file
fetches what a read needs in blocks (`block_size`), consecutive missing blocks in one request, and keeps
the last `max_blocks` blocks, so the metadata read over and over costs one fetch.

Standard library only: `fs.open_read` gives it the ranged read of the filesystem at hand.
"""

from __future__ import annotations

import collections
import io
from collections.abc import Callable

DEFAULT_BLOCK_SIZE = 64 * 1024  # a small kernel of a 1.2 MB step file: 0.19-0.25 MB, 3-4 requests (256 KiB: 0.65 MB)
DEFAULT_MAX_BLOCKS = 256  # 16 MiB per open file at the default block size


class BlockCachedFile(io.RawIOBase):
    """A binary file of `length` bytes whose bytes come from `read_range(offset, size)`.

    `read_range` may return fewer bytes than asked only at the end of the file. `requests` and
    `bytes_fetched` count what was fetched (for measurements and tests).
    """

    def __init__(
        self,
        read_range: Callable[[int, int], bytes],
        length: int,
        block_size: int = DEFAULT_BLOCK_SIZE,
        max_blocks: int = DEFAULT_MAX_BLOCKS,
        on_close: Callable[[], object] | None = None,
        name: str = "",
    ) -> None:
        super().__init__()
        if block_size < 1 or max_blocks < 1 or length < 0:
            raise ValueError("block_size and max_blocks must be >= 1 and length >= 0")
        self._read_range = read_range
        self.length = int(length)
        self.block_size = int(block_size)
        self.max_blocks = int(max_blocks)
        self._on_close = on_close
        self.name = name
        self._blocks: collections.OrderedDict[int, bytes] = collections.OrderedDict()
        self._position = 0
        self.requests = 0
        self.bytes_fetched = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of %s" % (self.name or "the file"))
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        size = max(0, min(len(view), self.length - self._position))
        if size == 0:
            return 0
        first, last = self._position // self.block_size, (self._position + size - 1) // self.block_size
        self._fetch_missing(first, last)
        written = 0
        for index in range(first, last + 1):
            block = self._blocks[index]
            self._blocks.move_to_end(index)
            start = self._position + written - index * self.block_size
            piece = block[start : start + size - written]
            if not piece:
                raise OSError(
                    "%s ended at byte %d, before its length %d"
                    % (self.name or "the file", index * self.block_size + len(block), self.length)
                )
            view[written : written + len(piece)] = piece
            written += len(piece)
        self._position += written
        return written

    def _fetch_missing(self, first: int, last: int) -> None:
        """Fetches the blocks first..last not cached, each run of consecutive missing blocks at once."""
        index = first
        while index <= last:
            if index in self._blocks:
                self._blocks.move_to_end(index)  # needed by this read: not evicted below
                index += 1
                continue
            end = index
            while end + 1 <= last and end + 1 not in self._blocks:
                end += 1
            offset = index * self.block_size
            want = min((end + 1) * self.block_size, self.length) - offset
            data = bytes(self._read_range(offset, want))[:want]
            self.requests += 1
            self.bytes_fetched += len(data)
            for block in range(index, end + 1):
                start = (block - index) * self.block_size
                self._blocks[block] = data[start : start + self.block_size]
            index = end + 1
        while len(self._blocks) > max(self.max_blocks, last - first + 1):
            self._blocks.popitem(last=False)

    def close(self) -> None:
        if not self.closed:
            self._blocks.clear()
            if self._on_close is not None:
                self._on_close()
        super().close()
