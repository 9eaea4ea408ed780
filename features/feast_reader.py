"""Reads of whole feature views for one entity from the Feast online store."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import polars as pl

from features.feast_profiles import hide_url_password
from features.feast_view_checks import _polars_type

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)


class FeaturesNotReadyError(FileNotFoundError):
    """The Feast registry lacks a feature view the caller needs."""


def _missing_view_message(store: FeatureStore, view_name: str) -> str:
    """Return why the registry lacks ``view_name`` and what to run.

    A registry without any feature view of the project was never filled by
    `recommender features`, or was recreated empty since. The hint about
    the feature code fits only a registry with other views of the project.
    """
    if not store.list_all_feature_views():
        registry = hide_url_password(str(store.config.registry.path))
        return (
            f"the Feast registry {registry} has no feature views for project "
            f"{store.project}, so feature view {view_name} is not found; run "
            "`recommender features` first, with this profile"
        )
    return (
        f"feature view {view_name} not found in the Feast registry; "
        "run `recommender features` first. If it has run since, "
        f"features/transforms.py computes a table {view_name} that "
        "no feature view declares: declare one or remove the transform"
    )


class OnlineReader:
    """Reads whole feature views for one entity from the online store.

    The feature references and their types are looked up in the registry once,
    here, rather than on every read. :meth:`read_row` reads a Redis online
    store directly (:mod:`features.online_read`), and any other online store
    through Feast.
    """

    def __init__(
        self, store: FeatureStore, views: tuple[str, ...], join_key: str
    ) -> None:
        self.store = store
        self.join_key = join_key
        self.references: list[str] = []
        self.schema: dict[str, pl.DataType] = {join_key: pl.String()}
        from feast.errors import FeatureViewNotFoundException

        from features.online_read import (
            RETRY_AFTER_SECONDS,
            ReadFailures,
            RedisRowReader,
            direct_read_unsupported_reason,
        )

        feature_views = []
        for view_name in views:
            try:
                view = store.get_feature_view(view_name)
            except FeatureViewNotFoundException as error:
                msg = _missing_view_message(store, view_name)
                raise FeaturesNotReadyError(msg) from error
            feature_views.append(view)
            for field in view.features:
                self.references.append(f"{view_name}:{field.name}")
                self.schema[field.name] = _polars_type(field.dtype)
        reason = direct_read_unsupported_reason(store, feature_views, join_key)
        self.retry_after = RETRY_AFTER_SECONDS
        self._failures = ReadFailures("the online store")
        self.direct: RedisRowReader | None = None
        if reason is None:
            self.direct = RedisRowReader(store, feature_views, join_key)
        else:
            logger.debug("reading %s through Feast: %s", join_key, reason)

    def read(self, keys: list[str]) -> pl.DataFrame:
        """Return one row per key; keys the store does not have get null
        features."""
        response = self.store.get_online_features(
            features=self.references,
            entity_rows=[{self.join_key: key} for key in keys],
        ).to_dict()
        return pl.DataFrame(response, schema=self.schema)

    def read_row(self, key: str) -> dict[str, Any]:
        """Return the join key and every feature of one key by name, as Python
        values; a key the store does not have gets None features.

        The values equal those of ``read([key]).row(0, named=True)``, without
        the cost of building a frame.
        """
        if self.direct is not None:
            return self.direct.read(key)
        # As for Redis, reads skip a store that failed in the last
        # retry_after seconds, so a locked SQLite file, which Feast waits 5 s
        # for, delays one request rather than each.
        self._failures.raise_if_recent(self.retry_after)
        try:
            response = self.store.get_online_features(
                features=self.references, entity_rows=[{self.join_key: key}]
            ).to_dict()
        except Exception as error:
            self._failures.record(error)
            raise
        self._failures.clear()
        return {name: values[0] for name, values in response.items()}
