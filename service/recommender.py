"""Ranks restaurants for users, anonymous callers and similar-restaurant lookups.

Start-up loads the current model and every restaurant's features (from the
Feast online store) into memory as one immutable state, with the arrays a
request reads prepared from them (:mod:`service.catalogue`). A restaurant the
online store lacks gets its profile and menu features computed from the store
(:mod:`service.store_profiles`) and no order counts. A request reads
the user's features from the online store once and picks a strategy:

- ``ranker``: the user has orders. Pair features of every candidate are
  computed with numpy (:mod:`features.pair_arrays`, tested equal to
  ``features.pairs.pair_features``, the on-demand view the model was trained
  with), the model scores them, and restaurants without orders are placed by
  their content score (:func:`service.strategies.place_new_restaurants`).
- ``content``: the user has no orders, an anonymous caller declared
  preferences, or the user was added to the store after the last `features`
  run (:mod:`service.store_profiles`); scored from cuisines, diet, budget,
  place and popularity.
- ``popularity``: nothing is known about the caller; ranked by past orders.
  When the online store cannot be read or no model is loaded, the list is by
  popularity in the requested or the user's city, marked ``degraded``. It
  leaves out the restaurants a known user ordered from, as a ranked list does,
  read from the store's orders when the online store fails.

:meth:`Recommender.reload` builds a new state from the current model and the
online store and swaps it in one assignment; a request keeps the state it
started with, so a reload never fails a request in flight.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from features.feast_store import (
    RESTAURANT_VIEWS,
    USER_VIEWS,
    OnlineReader,
    error_line,
    hide_secrets,
    hide_url_password,
    open_store,
)
from features.paths import VarPaths
from features.store import StoreLockedError
from models.registry import ModelNotFoundError
from service import metrics
from service.log_limits import WarningLimiter
from service.recommender_lists import UnknownRestaurantError
from service.recommender_state import (
    ModelLoadError,
    _lost_features,
    _State,
    _StateLoadingMixin,
)
from service.recommender_users import _UserListsMixin
from service.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = [
    "ModelLoadError",
    "Recommender",
    "StoreBusyError",
    "UnknownRestaurantError",
]

logger = logging.getLogger(__name__)


class StoreBusyError(RuntimeError):
    """A reload failed for a passing reason, so retrying later can succeed.

    Another reload was running, another process such as an import still held
    the store's lock after the wait, or the online store or the registry was
    locked, timed out or refused the connection.
    """


# Parts of the messages of failures that pass: SQLite's lock errors, and
# PostgreSQL's (psycopg 3) refused or timed-out connections.
_PASSING_MESSAGES = (
    "database is locked",
    "database is busy",
    "connection refused",
    "timeout expired",
)


# The mixins define the methods of user lists (service.recommender_users), of
# preference and similar-restaurant lists (service.recommender_lists) and of
# loading a state (service.recommender_state).
class Recommender(_UserListsMixin, _StateLoadingMixin):
    """The model, the feature store and the restaurant features, in memory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = VarPaths(settings.var_dir)
        self.store = open_store(
            settings.feature_repo, settings.var_dir, settings.feast_profile
        )
        self._online_file = _online_file_id(self.store)
        self._reload_lock = threading.Lock()
        self.degraded_warnings = WarningLimiter()
        self.online_failing = False
        self._install(self._load_state(self.store))

    @property
    def user_reader(self) -> OnlineReader:
        """The reader of user features of the loaded state."""
        return self._state.user_reader

    @property
    def ready(self) -> bool:
        """Return whether a model and restaurant features are loaded."""
        state = self._state
        return state.ranker is not None and state.restaurants_online > 0

    def online_problem(self) -> str | None:
        """Return why the online store no longer serves the user features it
        contained at the last load, or None while it does.

        Reads the features of one user with orders, so a flushed Redis or an
        emptied online store shows up before a reload.
        """
        try:
            return _lost_features(self._state)
        except Exception as error:
            # Feast and the Redis client raise plain exceptions.
            return f"the online store cannot be read: {type(error).__name__}: {error}"

    @property
    def model_version(self) -> str | None:
        """Return the version of the loaded model, if any."""
        metadata = self._state.metadata
        return None if metadata is None else metadata.version

    def reload(self, version: str | None = None) -> str | None:
        """Load the current model, or ``version`` when given, and the
        restaurant features again and swap them in; return the new model
        version.

        Raises:
            ModelNotFoundError: no current model; the old state stays.
            ModelLoadError: the current model's files are invalid, its
                features are not in the online store, or the store, the
                online store or the Feast registry cannot be read. The
                message is one line, and the error it replaces is its cause.
                The old state stays.
            StoreBusyError: another reload of this process is running,
                another process still held the store's lock after the wait
                of :func:`features.store.connect`, or the online store or
                the registry failed for a passing reason (see
                :func:`_passing_failure`). The old state stays.
        """
        # A reload that waited for another would queue behind one stuck on
        # a registry that stopped replying, holding a thread each.
        if not self._reload_lock.acquire(blocking=False):
            msg = (
                "another reload is still running; the loaded model and "
                "features stay, so retry the reload later"
            )
            raise StoreBusyError(msg)
        try:
            return self._reload_locked(version)
        finally:
            self._reload_lock.release()

    def _reload_locked(self, version: str | None) -> str | None:
        """Reload as :meth:`reload` does, with the reload lock held."""
        try:
            store, online_file = self._reopened_store()
            self._check_views(store)
            state = self._load_state(store, require_model=True, version=version)
            if state.restaurants_online == 0 and len(state.catalogue) > 0:
                msg = (
                    "the online store has features for none of the "
                    f"{len(state.catalogue)} restaurants of the store; run "
                    "`recommender features` with this profile or check the "
                    "online store's address, then reload"
                )
                raise ModelLoadError(msg)
        except (ModelNotFoundError, ModelLoadError):
            raise
        except StoreLockedError as error:
            msg = (
                f"the store {self.paths.store} is busy: another process, "
                "such as `recommender import` or `recommender features`, "
                "holds its lock; the loaded model and features stay, so "
                "retry the reload later"
            )
            raise StoreBusyError(msg) from error
        except Exception as error:
            # The store, the online store and the registry raise their own
            # types (DuckDB, SQLite, Redis, SQLAlchemy...); the old state
            # stays either way.
            failure = _read_failure(self.store, error)
            if _passing_failure(error):
                msg = (
                    f"{failure}; the loaded model and features stay, so "
                    "retry the reload later"
                )
                raise StoreBusyError(msg) from error
            raise ModelLoadError(failure) from error
        self.store, self._online_file = store, online_file
        self._install(state)
        return None if state.metadata is None else state.metadata.version

    def _reopened_store(self) -> tuple[FeatureStore, tuple[int, int] | None]:
        """Return the feature store to load from, with the identity of its
        SQLite online store file.

        Feast's SQLite online store keeps its connection open, so it would go
        on reading a file that was deleted or replaced, as by `recommender
        features` after the file was removed. A new store opens the new file.
        """
        online_file = _online_file_id(self.store)
        if online_file != self._online_file:
            logger.info(
                "online store file %s was deleted or replaced since it was "
                "opened; opening it again",
                self.store.config.online_store.path,
            )
            settings = self.settings
            store = open_store(
                settings.feature_repo, settings.var_dir, settings.feast_profile
            )
            return store, _online_file_id(store)
        # Feast caches the registry; `recommender features` may have changed
        # it since the last load.
        self.store.refresh_registry()
        return self.store, online_file

    def _install(self, state: _State) -> None:
        """Make ``state`` the state that requests read, and set the model
        version gauge to its version.

        The gauge is set here, not while a state loads, so that a reload that
        fails after loading leaves the gauge on the version still served.
        """
        self._state = state
        if state.metadata is not None:
            metrics.set_model_version(state.metadata.version)

    def _check_views(self, store: FeatureStore) -> None:
        """Raise ModelLoadError when the registry's feature views are not
        the ones this process's feature tables define: the feature code is
        read once, at start, so a view added or removed since needs a
        restart."""
        known = {*USER_VIEWS, *RESTAURANT_VIEWS}
        registered = {view.name for view in store.list_feature_views()}
        if registered == known:
            return
        added = ", ".join(sorted(registered - known)) or "none"
        removed = ", ".join(sorted(known - registered)) or "none"
        msg = (
            "the feature views of the registry changed since the service "
            f"started (added: {added}; removed: {removed}); restart the "
            "service to load the new feature definitions"
        )
        raise ModelLoadError(msg)


def _online_file_id(store: FeatureStore) -> tuple[int, int] | None:
    """Return the device and inode of the store's SQLite online store file,
    or None for a missing file or another kind of online store."""
    config = store.config.online_store
    if getattr(config, "type", None) != "sqlite":
        return None
    try:
        status = Path(config.path).stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _passing_failure(error: BaseException) -> bool:
    """Return whether ``error``, or an error that caused it, is one that passes:
    a timeout, a refused or lost connection, or a locked SQLite database."""
    import redis.exceptions

    passing_types = (
        TimeoutError,
        ConnectionError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    )
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, passing_types):
            return True
        text = str(current).lower()
        if any(message in text for message in _PASSING_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def _read_failure(store: FeatureStore, error: Exception) -> str:
    """Return one line naming what a reload could not read and why.

    SQLAlchemy, which Feast's SQL registry uses, adds the SQL statement, its
    parameters and a link to its messages; only the driver's message is kept.
    """
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(error, SQLAlchemyError):
        registry = hide_url_password(str(store.config.registry.path))
        source = f"the Feast registry {registry}"
    else:
        source = "the store or the online store"
    return hide_secrets(f"cannot read {source}: {error_line(error)}")
