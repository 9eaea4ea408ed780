"""The synthetic world's favourite places seen from the orders: the chance
that the nearer of two drawn restaurants is chosen, and a Gibbs sampler of
the favourite places given a user's orders (for ``world_ceiling.py``)."""

from __future__ import annotations

import numpy as np

from features.synthetic.orders import REPEAT_SHARE, SLOT_SHARES


def nearer_of_two(draw: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Return the chance of each restaurant being chosen when two are drawn
    by ``draw`` and the nearer one (smaller ``distance``) is chosen.

    A restaurant is chosen when both draws are it, or when one is and the
    other is farther: ``w * (w + 2 * farther)``.
    """
    order = np.argsort(distance, kind="stable")
    ordered = draw[order]
    farther = np.cumsum(ordered[::-1])[::-1] - ordered
    chosen = np.zeros_like(draw)
    chosen[order] = ordered * (ordered + 2 * farther)
    return chosen


class PosteriorSampler:
    """Sampler of the chance of each restaurant for a user's next order,
    given the user's past orders, with the favourite places unknown.

    Each of the five slots contains a restaurant drawn from ``slot``, the
    same chance for every slot. An order goes to slot ``j`` with its share
    of ``REPEAT_SHARE``, and explores otherwise. Gibbs sampling draws each
    slot in turn from its chance given the other slots and the orders, and
    averages the chance of an order over the samples.
    """

    def __init__(self, burn_in: int, samples: int, seed: int) -> None:
        self.burn_in = burn_in
        self.samples = samples
        self.rng = np.random.default_rng(seed)
        self.shares = REPEAT_SHARE * np.array(SLOT_SHARES) / np.sum(SLOT_SHARES)

    def chances(
        self, explore: np.ndarray, slot: np.ndarray, counts: dict[int, int]
    ) -> np.ndarray:
        """Return the chance of each restaurant for one order.

        ``explore`` is the exploring chance scaled by its share, ``slot`` the
        chance of a slot before any order, and ``counts`` the user's orders
        per restaurant index.
        """
        if not counts:
            return explore + self.shares.sum() * slot
        ordered = np.array(sorted(counts))
        times = np.array([counts[r] for r in ordered], dtype=float)
        support = np.flatnonzero(slot > 0)
        log_prior = np.log(slot[support])
        is_ordered = support[:, None] == ordered[None, :]
        slots = self.rng.choice(
            support, size=self.shares.size, p=slot[support] / slot[support].sum()
        )
        total = np.zeros_like(explore)
        for sweep in range(self.burn_in + self.samples):
            for j, share in enumerate(self.shares):
                others = explore[ordered].copy()
                for i, restaurant in enumerate(slots):
                    if i != j:
                        others += self.shares[i] * (ordered == restaurant)
                with np.errstate(divide="ignore"):
                    log_chance = np.log(others[None, :] + share * is_ordered)
                log_posterior = log_prior + log_chance @ times
                weights = np.exp(log_posterior - log_posterior.max())
                pick = np.searchsorted(
                    np.cumsum(weights), self.rng.random() * weights.sum()
                )
                slots[j] = support[min(pick, support.size - 1)]
            if sweep >= self.burn_in:
                total += explore
                np.add.at(total, slots, self.shares)
        result: np.ndarray = total / self.samples
        return result
