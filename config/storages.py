"""Drive storage back ends, as STORAGES entries (settings and tests build them alike)."""


def local_drive(location: str) -> dict:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": location},
    }


def s3_drive(
    *,
    bucket: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    prefix: str = "drive",
) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url,
            "region_name": region,
            # None lets boto3 find credentials itself (instance role, AWS_* variables).
            "access_key": access_key,
            "secret_key": secret_key,
            "location": prefix,
            "default_acl": None,
            # Blob names are random and never reused; an existing name is a bug, not a
            # file to overwrite.
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
