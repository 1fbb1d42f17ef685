import time

import docker
import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import builds
from sandbox.builds import ImageBuildError
from sandbox.egress import image as egress_image
from sandbox.egress.errors import EgressUnavailable
from sandbox.egress.proxy import Proxy, ensure_proxy, remove_proxy, running_proxy
from sandbox.management.commands.build_sandbox_image import _docker_client

FAILURES = (ImageBuildError, EgressUnavailable, docker.errors.DockerException)


class Command(BaseCommand):
    help = (
        "Makes sure the sandboxes' egress proxy runs on the Docker engine: builds its image "
        "from platform/egress/ unless the engine has it (the Dockerfile where a registry is "
        "reachable, else offline from Debian's packages), then starts the proxy container "
        "(TURNBOX_EGRESS_PROXY) unless it runs already with that image, and prints its "
        "name. The container restarts with the engine. `make run` calls this; in "
        "production the compose file's egress service runs it with --watch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--method", choices=builds.METHODS, default="auto")
        parser.add_argument(
            "--build-only", action="store_true", help="Build the image; start nothing."
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Start a new proxy container even if one runs (its sessions lose the network).",
        )
        parser.add_argument(
            "--stop", action="store_true", help="Remove the proxy container and its network."
        )
        parser.add_argument(
            "--watch",
            type=float,
            nargs="?",
            const=30.0,
            metavar="SECONDS",
            help="Keep running, and start the proxy again whenever it is gone (every 30 s).",
        )

    def handle(self, *args, method, build_only, replace, stop, watch, **options) -> None:
        client = _docker_client()
        try:
            if stop:
                remove_proxy(client=client)
                return
            egress_image.build_image(client=client, method=method, log=self._log)
            if build_only:
                self.stdout.write(egress_image.image_tag())
                return
            proxy = ensure_proxy(client=client, replace=replace)
            # Only now: the proxy that ran until a moment ago held the previous build.
            egress_image.remove_older_builds(client=client, log=self._log)
            self.stdout.write(proxy.name)
            if watch:
                self._watch(client, proxy, every=watch)
        except FAILURES as error:
            raise CommandError(f"The egress proxy could not start: {error}") from None
        finally:
            client.close()

    def _watch(self, client: docker.DockerClient, proxy: Proxy, *, every: float) -> None:
        while True:
            time.sleep(every)
            try:
                current = running_proxy(client)
            except (*FAILURES, requests.exceptions.RequestException) as error:
                self._log(f"The egress proxy is not running: {error}")
                continue
            if current.id != proxy.id:
                self._log(f"Started the egress proxy again ({current.id[:12]}).")
                proxy = current

    def _log(self, text: str) -> None:
        self.stderr.write(text, style_func=lambda line: line)
