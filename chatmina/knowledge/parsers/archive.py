"""Zip files, read defensively: every size is counted while reading, never taken on trust."""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from chatmina.knowledge.parsers.documents import (
    ImportLimits,
    ImportProblem,
    Source,
    megabytes,
    too_large,
)

DAMAGED_ZIP = "The zip file could not be read (damaged file?)"
DAMAGED_MEMBER = "This file could not be unpacked from the zip (damaged?)"
ENCRYPTED_MEMBER = "This file is password-protected inside the zip"
UNSAFE_PATH = "Unsafe path in the zip file (it points outside the zip's folder); not imported"
# Below this size a high compression ratio is ordinary (a page of repeated table rows),
# and the damage a bomb can do is bounded anyway.
_RATIO_FLOOR = 1024 * 1024
_READ_SIZE = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
# What zipfile and its decompressors raise for damaged archives; NotImplementedError for
# compression methods or zip versions it does not support.
_UNREADABLE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,
    OSError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
    lzma.LZMAError,
)

ExtractMember = Callable[[str, bytes, int, "ZipBudget"], list[Source]]


@dataclass
class ZipBudget:
    """Uncompressed bytes still allowed for one upload, shared by nested zips."""

    remaining: int


class BudgetSpent(ImportProblem):
    """The upload as a whole expands past its limit: stop reading further members."""


def open_zip(data: bytes, damaged: str = DAMAGED_ZIP) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except _UNREADABLE:
        raise ImportProblem(damaged) from None


def read_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    limits: ImportLimits,
    budget: ZipBudget,
    damaged: str = DAMAGED_ZIP,
) -> bytes:
    if info.flag_bits & 0x1:
        raise ImportProblem(ENCRYPTED_MEMBER)
    ratio_cap = max(limits.max_compression_ratio * max(info.compress_size, 1), _RATIO_FLOOR)
    bomb = ImportProblem(
        f"This file expands to more than {limits.max_compression_ratio} times its compressed "
        "size, like a zip bomb; not imported"
    )
    spent = BudgetSpent(
        f"The zip file expands to more than {megabytes(limits.max_zip_total_bytes)}; "
        "this and the remaining files were not imported"
    )
    # The header's sizes allow a cheap early refusal; the counted bytes below are the check
    # that holds even when the header lies.
    if info.file_size > limits.max_file_bytes:
        raise ImportProblem(too_large(limits.max_file_bytes))
    if info.file_size > ratio_cap:
        raise bomb
    cap = min(limits.max_file_bytes, ratio_cap, budget.remaining)
    parts: list[bytes] = []
    total = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(min(_READ_SIZE, cap - total + 1)):
                total += len(chunk)
                if total > cap:
                    if total > ratio_cap:
                        raise bomb
                    if total > limits.max_file_bytes:
                        raise ImportProblem(too_large(limits.max_file_bytes))
                    raise spent
                parts.append(chunk)
    except _UNREADABLE:
        raise ImportProblem(damaged) from None
    budget.remaining -= total
    return b"".join(parts)


def unsafe_path(path: str) -> bool:
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/")


def _hidden(path: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.split("/"))


def extract_zip(
    name: str,
    data: bytes,
    limits: ImportLimits,
    budget: ZipBudget,
    depth: int,
    supported: Callable[[str], bool],
    extract_member: ExtractMember,
) -> list[Source]:
    """Sources for every supported member; problems become per-member errors.

    ``depth`` is how many zips enclose this one; members are extracted at ``depth + 1``.
    """
    with open_zip(data) as archive:
        members = archive.infolist()
        if len(members) > limits.max_zip_members:
            raise ImportProblem(
                f"The zip file has {len(members)} entries; the limit is {limits.max_zip_members}"
            )
        sources: list[Source] = []
        seen: set[str] = set()
        for info in members:
            # Zips made on Windows sometimes separate folders with backslashes.
            path = info.filename.replace("\\", "/")
            if path.endswith("/"):
                continue
            member_name = f"{name}/{path.lstrip('/')}"
            if unsafe_path(path):
                sources.append(Source(member_name, None, UNSAFE_PATH))
                continue
            if _hidden(path) or not supported(path):
                continue
            if member_name in seen:
                sources.append(Source(member_name, None, "This path appears twice in the zip"))
                continue
            seen.add(member_name)
            try:
                content = read_member(archive, info, limits, budget, DAMAGED_MEMBER)
            except BudgetSpent as problem:
                sources.append(Source(member_name, None, str(problem)))
                break
            except ImportProblem as problem:
                sources.append(Source(member_name, None, str(problem)))
                continue
            sources.extend(extract_member(member_name, content, depth + 1, budget))
    return sources
