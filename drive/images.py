"""Images saved to a Drive folder under names of their own: the charts code shows,
kept when the person asked for them. Nothing is overwritten: a name in use gets a
numbered suffix."""

import base64
import binascii
import io

from drive import rules
from drive.models import DriveFile
from drive.services import DriveError, FileExistsInDrive, drive_file_upload
from workspaces.models import User, Workspace

# Images that may be saved, by extension. Not SVG: it can carry script.
SAVED_IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg"}
# Names tried for one image: chart-1.png, then chart-1-2.png, and so on.
IMAGE_NAME_ATTEMPTS = 50


def drive_image_save(
    *,
    workspace: Workspace,
    folder: str,
    stem: str,
    mime: str,
    data: str,
    uploaded_by: User | None,
) -> DriveFile:
    """Saves a base64 ``data`` image of type ``mime`` in ``folder`` as ``stem`` plus
    its extension, or the first free numbered name after it. Refusals raise a
    DriveError; each attempt is one ``drive_file_upload``, whole or not at all."""
    extension = SAVED_IMAGE_TYPES.get(mime)
    if extension is None:
        raise DriveError("only PNG and JPEG images are saved (SVG can carry script)")
    try:
        folder = rules.normalize_folder(folder)
    except rules.PathError as error:
        raise DriveError(str(error)) from None
    try:
        content = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DriveError("the image's data is not valid base64") from None
    base = f"{folder}{stem}"
    for attempt in range(1, IMAGE_NAME_ATTEMPTS + 1):
        path = f"{base}.{extension}" if attempt == 1 else f"{base}-{attempt}.{extension}"
        try:  # refused before anything is stored when the name is taken
            return drive_file_upload(
                workspace=workspace,
                path=path,
                content=io.BytesIO(content),
                uploaded_by=uploaded_by,
            )
        except FileExistsInDrive:
            continue
    raise DriveError(f"every name like {base}.{extension} is taken")
