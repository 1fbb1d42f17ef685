"""Drive pages: browse folders, upload (XHR with JSON, or a plain form), download, delete."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from drive import rules, selectors, services
from drive.downloads import attachment_response
from drive.models import DriveFile
from drive.uploads import SizeLimitUploadHandler
from workspaces.access import workspace_view
from workspaces.models import Role, Workspace

drive_view = workspace_view(roles=[Role.ADMIN, Role.MEMBER])

REPLACE_HINT = "Choose “Replace existing files” to overwrite it."
# Types a browser could execute on our origin are sent as plain bytes.
ACTIVE_CONTENT_TYPES = frozenset(
    {"text/html", "image/svg+xml", "application/xml", "text/xml", "text/javascript"}
)


def browse_url(workspace: Workspace, folder: str = "/") -> str:
    url = reverse("drive:browse", kwargs={"ws": workspace.slug})
    return url if folder == "/" else f"{url}?{urlencode({'path': folder})}"


@drive_view
@require_GET
def browse(request: HttpRequest) -> HttpResponse:
    try:
        folder = rules.normalize_folder(request.GET.get("path") or "/")
    except rules.PathError as error:
        messages.error(request, f"Cannot open that folder: {error}")
        return redirect(browse_url(request.workspace))
    if "new" in request.GET:
        return _open_new_folder(request, folder, request.GET["new"])
    count, total = selectors.drive_usage(workspace=request.workspace)
    context = {
        "listing": selectors.drive_listing(workspace=request.workspace, folder=folder),
        "usage": {"count": count, "size": total},
        "max_bytes": settings.DRIVE_MAX_FILE_BYTES,
        "max_text": rules.format_megabytes(settings.DRIVE_MAX_FILE_BYTES),
        "accept": ",".join(f".{e}" for e in rules.allowed_extensions()),
        "allowed_summary": rules.allowed_summary(),
    }
    return render(request, "drive/browse.html", context)


def _open_new_folder(request: HttpRequest, folder: str, name: str) -> HttpResponse:
    # Folders exist only through their files: "creating" one is opening its empty page.
    try:
        new_folder = rules.normalize_folder(f"{folder}{name.strip()}/")
    except rules.PathError as error:
        messages.error(request, f"Cannot create that folder: {error}")
        return redirect(browse_url(request.workspace, folder))
    if new_folder == folder:
        messages.error(request, "Give the new folder a name.")
    return redirect(browse_url(request.workspace, new_folder))


# The size limit must sit in front of Django's upload handlers before the body is read,
# and the CSRF check reads it: so CSRF is checked inside, once the handler is in place.
@csrf_exempt
@drive_view
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    limiter = SizeLimitUploadHandler(request, settings.DRIVE_MAX_FILE_BYTES)
    request.upload_handlers.insert(0, limiter)
    return _upload(request, limiter)


@csrf_protect
def _upload(request: HttpRequest, limiter: SizeLimitUploadHandler) -> HttpResponse:
    as_json = "application/json" in request.headers.get("Accept", "")
    try:
        folder = rules.normalize_folder(request.POST.get("folder") or "/")
    except rules.PathError as error:
        return _refuse_upload(request, as_json, f"Cannot upload into that folder: {error}")
    uploads = request.FILES.getlist("files")
    if not uploads and not limiter.oversized:
        return _refuse_upload(request, as_json, "Choose at least one file to upload.", folder)
    replace = request.POST.get("replace") in {"1", "on", "true"}
    results = [_upload_one(request, folder, upload, replace) for upload in uploads]
    results += [_oversized(folder, name, limiter.limit) for name in limiter.oversized]
    if as_json:
        stored = any(result["ok"] for result in results)
        return JsonResponse({"results": results}, status=200 if stored else 400)
    for result in results:
        _announce(request, result)
    return redirect(browse_url(request.workspace, folder))


def _refuse_upload(request, as_json: bool, error: str, folder: str = "/") -> HttpResponse:
    if as_json:
        return JsonResponse({"error": error, "results": []}, status=400)
    messages.error(request, error)
    return redirect(browse_url(request.workspace, folder))


def _upload_one(request: HttpRequest, folder: str, upload, replace: bool) -> dict:
    result = {"name": upload.name, "ok": False}
    try:
        drive_file = services.drive_file_upload(
            workspace=request.workspace,
            path=f"{folder}{upload.name}",
            content=upload,
            uploaded_by=request.user,
            replace=replace,
        )
    except services.FileExistsInDrive as error:
        return {**result, "exists": True, "error": f"{error} {REPLACE_HINT}"}
    except services.DriveError as error:
        return {**result, "error": str(error)}
    file_json = _file_json(request.workspace, drive_file)
    return {**result, "ok": True, "replaced": drive_file.was_replaced, "file": file_json}


def _oversized(folder: str, name: str, limit: int) -> dict:
    error = f"{folder}{name}: {rules.size_limit_message(limit)}"
    return {"name": name, "ok": False, "error": error}


def _file_json(workspace: Workspace, drive_file: DriveFile) -> dict:
    return {
        "id": drive_file.pk,
        "path": drive_file.path,
        "name": drive_file.name,
        "size": drive_file.size,
        "size_display": filesizeformat(drive_file.size),
        "content_type": drive_file.content_type,
        "category": drive_file.category,
        "sha256": drive_file.sha256,
        "updated_at": drive_file.updated_at.isoformat(),
        "download_url": reverse(
            "drive:download", kwargs={"ws": workspace.slug, "pk": drive_file.pk}
        ),
    }


def _announce(request: HttpRequest, result: dict) -> None:
    if not result["ok"]:
        messages.error(request, result["error"])
        return
    verb = "Replaced" if result["replaced"] else "Uploaded"
    messages.success(request, f"{verb} {result['file']['path']}.")


@drive_view
@require_GET
def download(request: HttpRequest, pk: int) -> FileResponse:
    drive_file = selectors.drive_file_get(workspace=request.workspace, pk=pk)
    try:
        content = selectors.drive_file_open(drive_file=drive_file)
    except FileNotFoundError:
        raise Http404("The content of this file is missing.") from None
    content_type = drive_file.content_type
    response = attachment_response(
        request,
        content,
        filename=drive_file.name,
        content_type=(
            "application/octet-stream" if content_type in ACTIVE_CONTENT_TYPES else content_type
        ),
    )
    # Uploads are hostile: never sniffed, never rendered, never run on our origin.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-cache"
    return response


@drive_view
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    drive_file = selectors.drive_file_get(workspace=request.workspace, pk=pk)
    services.drive_file_delete(drive_file=drive_file)
    messages.success(request, f"Deleted {drive_file.path}.")
    return redirect(browse_url(request.workspace, drive_file.folder))
