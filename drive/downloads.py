"""Download responses that stream a stored file in fixed-size chunks, under ASGI and WSGI.

Django serves a response under ASGI by iterating it asynchronously; a synchronous
iterator (what ``FileResponse`` makes of a file) is first read whole into a list, so a
100 MB download would hold 100 MB of memory. Under WSGI it is the reverse: an
asynchronous iterator is collected whole. Each server therefore gets its own kind.
"""

from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.core.files import File
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest

CHUNK_BYTES = 256 * 1024


def attachment_response(
    request: HttpRequest, content: File, *, filename: str, content_type: str
) -> FileResponse:
    """``content`` as an attachment named ``filename``; the response closes it when sent.

    FileResponse sets Content-Length and an encoded Content-Disposition (through
    django.utils.http.content_disposition_header) from the file in both cases."""
    response = FileResponse(
        content, as_attachment=True, filename=filename, content_type=content_type
    )
    response.block_size = CHUNK_BYTES
    if isinstance(request, ASGIRequest):
        # Replaces FileResponse's own (not yet started) iterator; the file stays among
        # the resources that response.close() closes.
        response.streaming_content = read_in_chunks(content, CHUNK_BYTES)
    return response


async def read_in_chunks(content: File, chunk_bytes: int) -> AsyncIterator[bytes]:
    # Each read runs in a worker thread: storage reads block (disk, S3).
    read = sync_to_async(content.read)
    while chunk := await read(chunk_bytes):
        yield chunk
