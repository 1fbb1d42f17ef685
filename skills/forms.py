"""Forms of the skill pages. They check the shape of what was sent; skills.services and
skills.bundle decide what is allowed."""

import json

from django import forms

from skills import bundle


class SkillCreateForm(forms.Form):
    name = forms.CharField(
        max_length=bundle.MAX_NAME_CHARS,
        help_text="Lowercase letters, digits and hyphens, e.g. quarterly-report. It cannot "
        "change later: agents refer to it.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "placeholder": "e.g. csv-cleanup"}),
    )
    description = forms.CharField(
        max_length=bundle.MAX_DESCRIPTION_CHARS,
        help_text="What it does and when to use it: the model reads this to choose skills.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not bundle.NAME_PATTERN.match(name):
            raise forms.ValidationError(
                "Use lowercase letters, digits and single hyphens, e.g. csv-cleanup."
            )
        return name


class SkillZipForm(forms.Form):
    archive = forms.FileField(
        label="Zip file",
        help_text=f"A zip of the skill's folder, with SKILL.md at its top (or in one folder). "
        f"At most {bundle.MAX_FILES} files, {bundle.MAX_FILE_BYTES // 1024 // 1024} MiB per "
        f"file, {bundle.MAX_TOTAL_BYTES // 1024 // 1024} MiB in all.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )


class SkillFolderForm(forms.Form):
    """A browser folder upload: the files, and their relative paths (skills.js sends
    them, since browsers send only the file's own name)."""

    paths = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, files_list=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.files_list = files_list or []

    def clean(self) -> dict:
        try:
            paths = json.loads(self.cleaned_data.get("paths") or "")
        except ValueError:
            paths = None
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise forms.ValidationError("The folder's file paths were not sent; choose it again.")
        if not self.files_list:
            raise forms.ValidationError("Choose a folder with a SKILL.md in it.")
        if len(paths) != len(self.files_list):
            raise forms.ValidationError("The folder's paths and files do not match; try again.")
        if len(paths) > bundle.MAX_FILES:
            raise forms.ValidationError(
                f"The folder has {len(paths)} files; at most {bundle.MAX_FILES} are allowed."
            )
        self.cleaned_data["pairs"] = list(zip(paths, self.files_list, strict=True))
        return self.cleaned_data


class SkillFileForm(forms.Form):
    path = forms.CharField(
        max_length=bundle.MAX_PATH_CHARS,
        help_text="Inside the skill's folder, e.g. examples/report.py. A new path adds a file.",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    content = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 24, "spellcheck": "false", "class": "code-input", "data-editor": ""}
        ),
    )

    def clean_content(self) -> bytes:
        data = self.cleaned_data["content"].replace("\r\n", "\n").encode()
        if len(data) > bundle.MAX_FILE_BYTES:
            raise forms.ValidationError(
                f"The file is over {bundle.MAX_FILE_BYTES // 1024 // 1024} MiB, the limit."
            )
        return data
