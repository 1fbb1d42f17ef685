"""Skill pages: the library and a skill's page (files, history, agents using it) for
admins and members, read-only for members; creating, importing, editing, exporting,
deleting and attaching for admins. Finance has no access, as with Drive and agents."""

import re
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from skills import bundle, selectors, services
from skills.forms import SkillCreateForm, SkillFileForm, SkillFolderForm, SkillZipForm
from skills.models import Skill
from skills.testrun import runnable_paths
from workspaces.access import admin_only, workspace_view
from workspaces.models import Role

# Ids and version numbers in URLs and forms: ASCII digits, within the database's integers.
ID = re.compile(r"[0-9]{1,9}")

skill_view = workspace_view(roles=[Role.ADMIN, Role.MEMBER])


def _is_admin(request: HttpRequest) -> bool:
    return request.membership.role == Role.ADMIN


def _detail_url(skill: Skill, **query) -> str:
    url = reverse("skills:detail", kwargs={"ws": skill.workspace.slug, "pk": skill.pk})
    if query:
        url += "?" + urlencode(query)
    return url


@skill_view
@require_GET
def skill_list(request: HttpRequest) -> HttpResponse:
    skills = selectors.skills_of_workspace(workspace=request.workspace)
    return render(request, "skills/list.html", {"skills": skills, "is_admin": _is_admin(request)})


@admin_only
def skill_create(request: HttpRequest) -> HttpResponse:
    form = SkillCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            skill = services.skill_create(
                workspace=request.workspace, created_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Skill “{skill.name}” created.")
            return redirect(_detail_url(skill))
    return render(request, "skills/create.html", {"form": form}, status=400 if form.errors else 200)


@admin_only
def skill_import(request: HttpRequest) -> HttpResponse:
    zip_form, folder_form, errors = SkillZipForm(), SkillFolderForm(), []
    if request.method == "POST":
        files, note, errors = _uploaded_files(request)
        if not errors:
            try:
                result = services.skill_import_or_update(
                    workspace=request.workspace, files=files, created_by=request.user, note=note
                )
            except ValidationError as error:
                errors = error.messages
            else:
                messages.success(request, result.summary())
                return redirect(_detail_url(result.skill))
    context = {"zip_form": zip_form, "folder_form": folder_form, "errors": errors, **_limits()}
    return render(request, "skills/import.html", context, status=400 if errors else 200)


def _limits() -> dict:
    return {
        "max_files": bundle.MAX_FILES,
        "max_file_mib": bundle.MAX_FILE_BYTES // (1024 * 1024),
        "max_total_mib": bundle.MAX_TOTAL_BYTES // (1024 * 1024),
    }


def _uploaded_files(request: HttpRequest) -> tuple[dict[str, bytes], str, list[str]]:
    """(files, note, errors) from the zip form or the folder form."""
    if request.POST.get("source") == "folder":
        form = SkillFolderForm(request.POST, files_list=request.FILES.getlist("files"))
        if not form.is_valid():
            return {}, "", [e for errors in form.errors.values() for e in errors]
        too_big = [p for p, f in form.cleaned_data["pairs"] if f.size > bundle.MAX_FILE_BYTES]
        if too_big:
            return {}, "", [f"“{p}” is over {_limits()['max_file_mib']} MiB." for p in too_big]
        pairs = form.cleaned_data["pairs"]
        return {path: upload.read() for path, upload in pairs}, "Imported from a folder", []
    form = SkillZipForm(request.POST, request.FILES)
    if not form.is_valid():
        return {}, "", ["Choose a zip file to import."]
    archive = form.cleaned_data["archive"]
    try:
        files = bundle.read_zip(archive)
    except ValidationError as error:
        return {}, "", error.messages
    return files, f"Imported from {archive.name}"[:300], []


@skill_view
@require_GET
def skill_detail(request: HttpRequest, pk: int) -> HttpResponse:
    skill = selectors.skill_get(workspace=request.workspace, pk=pk)
    version = _version_from(request, skill)
    files = list(selectors.version_files(version=version))
    shown = _shown_file(version, request.GET.get("file") or bundle.SKILL_FILE)
    latest = selectors.skill_latest_version(skill=skill)
    context = {
        "skill": skill,
        "version": version,
        "is_latest": version.pk == latest.pk,
        "files": files,
        "shown": shown,
        "history": skill.versions.select_related("created_by").order_by("-number"),
        "agent_links": selectors.agents_using_skill(skill=skill),
        "runnable": runnable_paths(f.path for f in files),
        "is_admin": _is_admin(request),
    }
    return render(request, "skills/detail.html", context)


def _version_from(request: HttpRequest, skill: Skill):
    number = request.GET.get("version")
    if number:
        if not ID.fullmatch(number):
            raise Http404("No such version.")
        return selectors.skill_version_get(skill=skill, number=int(number))
    return selectors.skill_latest_version(skill=skill)


def _shown_file(version, path: str) -> dict | None:
    found = selectors.version_file(version=version, path=path)
    if found is None:
        return None
    data = bytes(found.content)
    text = data.decode("utf-8") if bundle.is_text(data) else None
    return {
        "path": found.path,
        "size": found.size,
        "text": text,
        "language": bundle.language_of(found.path),
    }


@admin_only
def skill_file_edit(request: HttpRequest, pk: int) -> HttpResponse:
    skill = selectors.skill_get(workspace=request.workspace, pk=pk)
    latest = selectors.skill_latest_version(skill=skill)
    path = request.GET.get("file", "")
    initial = {"path": path}
    existing = selectors.version_file(version=latest, path=path) if path else None
    if existing is not None:
        data = bytes(existing.content)
        if not bundle.is_text(data):
            messages.error(request, f"“{path}” is not a text file; it cannot be edited here.")
            return redirect(_detail_url(skill, file=path))
        initial["content"] = data.decode("utf-8")
    form = SkillFileForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.skill_file_save(skill=skill, saved_by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Saved {form.cleaned_data['path']}: a new version.")
            return redirect(_detail_url(skill, file=bundle.clean_path(form.cleaned_data["path"])))
    context = {
        "skill": skill,
        "form": form,
        "language": bundle.language_of(path),
        "is_new": existing is None,
    }
    return render(request, "skills/edit.html", context, status=400 if form.errors else 200)


@admin_only
@require_POST
def skill_file_delete(request: HttpRequest, pk: int) -> HttpResponse:
    skill = selectors.skill_get(workspace=request.workspace, pk=pk)
    path = request.POST.get("path", "")
    try:
        services.skill_file_delete(skill=skill, path=path, deleted_by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Deleted {path}: a new version.")
    return redirect(_detail_url(skill))


@admin_only
@require_GET
def skill_export(request: HttpRequest, pk: int) -> HttpResponse:
    skill = selectors.skill_get(workspace=request.workspace, pk=pk)
    version = _version_from(request, skill)
    data = bundle.write_zip(skill.name, selectors.version_contents(version=version))
    response = HttpResponse(data, content_type="application/zip")
    filename = f"{skill.name}-v{version.number}.zip"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin_only
@require_POST
def skill_delete(request: HttpRequest, pk: int) -> HttpResponse:
    skill = selectors.skill_get(workspace=request.workspace, pk=pk)
    services.skill_delete(skill=skill)
    messages.success(request, f"Skill “{skill.name}” deleted.")
    return redirect("skills:list", ws=request.workspace.slug)


@admin_only
@require_POST
def agent_skills_save(request: HttpRequest, agent_pk: int) -> HttpResponse:
    """The agent editor's Skills tab posts here: ``skill`` ids ticked, and for each a
    ``version-<id>`` ("" follows the latest)."""
    # Through the workspace's own agents: another workspace's agent is a 404.
    agent = get_object_or_404(request.workspace.agents, pk=agent_pk)
    try:
        choices = {}
        for raw in request.POST.getlist("skill"):
            number = request.POST.get(f"version-{raw}", "")
            if not ID.fullmatch(raw) or (number and not ID.fullmatch(number)):
                raise ValueError(raw)
            choices[int(raw)] = int(number) if number else None
        services.agent_skills_set(agent=agent, choices=choices)
    except (ValueError, ValidationError) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else ""
        messages.error(request, text or "The skills sent were not understood.")
    else:
        messages.success(request, f"Skills of “{agent.name}” saved.")
    return redirect("agents:edit_tab", ws=request.workspace.slug, pk=agent.pk, tab="skills")
