"""Vegetarian classification of menu items from their name and description.

A menu item is vegetarian when it contains no meat, poultry, fish, shellfish,
insects, or ingredients made from them: stock, fish sauce, dashi, anchovy,
gelatin, lard. Eggs, dairy and honey count as vegetarian, and so does cheese
whatever its rennet, because menus never name the rennet. Whether a dish is
vegan is not decided here.

The rules, in the order they apply:

1. An explicit ``is_vegetarian`` label, when not null, wins (only in
   :func:`classify_menu` and in the ``label`` argument of
   :func:`is_vegetarian_dish`).
2. Otherwise the lexicon decides. Text is lower-cased and stripped of accents
   (Unicode NFKD), so "Jamón" matches ``jamon`` and "CAMARONES" matches
   ``camarones``. Terms match whole words only: "ham" is not found in
   "graham" or "hamburguesa", nor "chicken" in "chickpea".
3. An **ingredient term** names an animal food: chicken, pollo, jamón,
   camarones, anchoas, gelatina. Only a modifier directly before it ("vegan
   chorizo", "soy chorizo", "Beyond meat", "seitan fried chicken") or a Spanish
   one after it ("chorizo de soya", "pollo vegano") cancels it. A negation
   cancels it too: "sin tocino", "no bacon", "shrimp-free". A dish-wide
   "vegan" does not, so "Chicken and veggie stir fry" stays meat.
4. A **main-ingredient dish term** names a dish whose meat is its filling or
   protein: "al pastor", "carnitas", "bolognese", "burger", "pozole", "paella",
   "sushi", "lasagna", "kebab". A meat substitute or a vegetable right before
   it or after "de"/"of" cancels it: "Tacos de coliflor al pastor", "Lentil
   bolognese", "Pozole de hongos", "Sushi de aguacate", "Beyond burger".
5. A **classic dish term** names a dish whose classic recipe has meat that the
   name does not state: "BLT", "club sandwich", "enchiladas suizas",
   "mapo tofu". Only a plant protein or a diet word cancels it ("Tempeh BLT");
   a vegetable does not ("Avocado BLT" keeps its bacon). A plant protein right
   after a main or classic dish term cancels it as well: "Kung pao tofu".
6. A **broth dish term** names a dish whose animal part is its broth, stock,
   dressing, fish sauce or gelatin: "ramen", "pho", "pad thai", "miso soup",
   "French onion soup", "Caesar salad", "green curry", "panna cotta". Only a
   diet word cancels it ("Vegan pad thai", "Veggie ramen"). A new main
   ingredient does not ("Pad thai with tofu", "Vegetable pho", "Ensalada César
   sin anchoas"), because the broth or sauce is unchanged.
7. A **declaration** anywhere in the name or description ("vegetarian",
   "vegano", "vegetal", "plant-based", "meatless", "sin carne") cancels every
   dish term, but no ingredient term. Offers such as "vegetarian option
   available" or "o vegetariano" are not declarations, and "not suitable for
   vegetarians" counts as an ingredient term.
8. Text with no remaining term is vegetarian.

Name and description are joined for matching, but punctuation ends a phrase:
a modifier never crosses a comma, a full stop or the end of the name.

Both entry points run the same regular expressions over the same normalised
text: :func:`classify_menu` with polars (the Rust ``regex`` crate) and
:func:`is_vegetarian_dish` with Python's ``re``. The patterns therefore use
only syntax both engines read the same way, without look-around or
back-references. ``tests/features/test_vegetarian.py`` checks that both agree
on every labelled dish.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from features.vegetarian_lexicon import (
    BROTH_DISH_TERMS,
    CLASSIC_DISH_TERMS,
    CONJUNCTIONS,
    DECLARATIONS,
    DIET_WORDS,
    FISH_TERMS,
    INGREDIENT_MODIFIERS_AFTER,
    INGREDIENT_MODIFIERS_BEFORE,
    MAIN_DISH_TERMS,
    MEAT_TERMS,
    NEGATION_SUFFIXES,
    NEGATIONS,
    NOT_VEGETARIAN_PHRASES,
    OPTION_PHRASES,
    PREPARATION_WORDS,
    PROTEIN_WORDS,
    SAFE_PHRASES,
    VEGETABLE_WORDS,
)
from features.vegetarian_scores import DEV_HALF as DEV_HALF
from features.vegetarian_scores import DISH_LABEL_SCHEMA as DISH_LABEL_SCHEMA
from features.vegetarian_scores import TEST_HALF as TEST_HALF
from features.vegetarian_scores import Scores as Scores
from features.vegetarian_scores import holdout_half as holdout_half
from features.vegetarian_scores import read_dish_labels as read_dish_labels
from features.vegetarian_scores import score_predictions as score_predictions

PREDICTION_COLUMN = "is_vegetarian_pred"
EVIDENCE_COLUMN = "vegetarian_evidence"
EVIDENCE_LABEL = "label"
EVIDENCE_LEXICON = "lexicon"

# Letters that NFKD does not split into a base letter and a mark.
_LETTER_FOLDS = {
    "œ": "oe",
    "æ": "ae",
    "ß": "ss",
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "\u0131": "i",
}
# Punctuation that ends a phrase. It becomes " | ", which ``\s+`` cannot cross.
_PHRASE_BREAK = '[.,;:!?()\\[\\]{}/|\\\\"\u2013\u2014]+'
_PHRASE_BREAK_TOKEN = " | "

# Tokens written into the text by the rewriting steps. NONVEG_TOKEN is an
# ingredient term, and the others match no term list.
SAFE_TOKEN = " vegsafe "
NONVEG_TOKEN = " nonveg "
OPTION_TOKEN = " vegoption "
NEGATED_TOKEN = " nomeat "
SUBSTITUTE_TOKEN = " plantmeat "
VEGETARIAN_DISH_TOKEN = " vegdish "


def _alternation(terms: Iterable[str]) -> str:
    """Join regex fragments into one non-capturing alternation."""
    # Longer fragments first, so that "corn dogs?" is tried before "dogs?".
    ordered = sorted(set(terms), key=lambda term: (-len(term), term))
    return "(?:" + "|".join(ordered) + ")"


def _words(alternation: str) -> str:
    return rf"\b{alternation}\b"


@dataclass(frozen=True)
class _Patterns:
    """Regular expressions of the rules, as strings both engines accept."""

    safe: str
    not_vegetarian: str
    option: str
    declaration: str
    modified_before: str
    modified_after: str
    negated: str
    main_dish_qualified_before: str
    main_dish_qualified_after: str
    classic_dish_qualified_before: str
    classic_dish_qualified_after: str
    dish_then_protein: str
    broth_dish_qualified: str
    ingredient: str
    dish: str

    def rewrites(self) -> tuple[tuple[str, str], ...]:
        """Rewriting steps applied before the declaration check, in order."""
        return (
            (self.safe, SAFE_TOKEN),
            (self.not_vegetarian, NONVEG_TOKEN),
            (self.option, OPTION_TOKEN),
        )

    def scoping(self) -> tuple[tuple[str, str], ...]:
        """Rewriting steps that cancel terms by their neighbours, in order.

        Modifiers come before negations, so that "meat free sausage" is read
        as a substitute and a lone "meat free" as a negation.
        """
        return (
            (self.modified_before, SUBSTITUTE_TOKEN),
            (self.modified_after, SUBSTITUTE_TOKEN),
            (self.negated, NEGATED_TOKEN),
            (self.main_dish_qualified_before, VEGETARIAN_DISH_TOKEN),
            (self.main_dish_qualified_after, VEGETARIAN_DISH_TOKEN),
            (self.classic_dish_qualified_before, VEGETARIAN_DISH_TOKEN),
            (self.classic_dish_qualified_after, VEGETARIAN_DISH_TOKEN),
            (self.dish_then_protein, VEGETARIAN_DISH_TOKEN),
            (self.broth_dish_qualified, VEGETARIAN_DISH_TOKEN),
        )


def _qualified_before(qualifier: str, dish: str) -> str:
    """Return the pattern of a qualifier before dish terms: "veg seekh kebab"."""
    # "style" and "estilo" may stand between: "coliflor estilo pastor".
    style = r"(?:(?:estilo|style|a la|al)\s+)?"
    return rf"\b{qualifier}\s+{style}{dish}(?:\s+{dish})*\b"


def _qualified_after(dish: str, qualifier: str) -> str:
    """Return the pattern of a dish term, then "de", "of" or "di", a qualifier.

    NOTE: the qualifier must follow the term in the same phrase, so a
    description such as "Nuggets de garbanzo" does not reach the name
    "Nuggets sin pollo".
    """
    # One word may stand between: "Pozole rojo de hongos".
    of = r"(?:\w+\s+)?(?:de|del|of|di|aux|au)\s+(?:la\s+|las\s+|los\s+)?"
    return rf"\b{dish}\s+{of}{qualifier}\b"


def _modified_before(ingredient: str) -> str:
    """Return the pattern of a modifier, then ingredient terms: "Beyond meat"."""
    modifier = _alternation(INGREDIENT_MODIFIERS_BEFORE)
    preparation = rf"(?:{_alternation(PREPARATION_WORDS)}\s+)?"
    return rf"\b{modifier}\s+{preparation}{ingredient}(?:\s+{ingredient})*\b"


def _dish_then_protein(dish: str, protein: str) -> str:
    """Return the pattern of a dish term, then a plant protein: "Kung pao tofu".

    Only plant proteins count here: in "Steak potatoes" the vegetable is a
    side, not the dish's main ingredient.
    """
    return rf"\b{dish}\s+{protein}\b"


def _build_patterns() -> _Patterns:
    ingredient = _alternation((*MEAT_TERMS, *FISH_TERMS, NONVEG_TOKEN.strip()))
    main_dish = _alternation(MAIN_DISH_TERMS)
    classic_dish = _alternation(CLASSIC_DISH_TERMS)
    broth_dish = _alternation(BROTH_DISH_TERMS)

    diet = _alternation(DIET_WORDS)
    protein = _alternation((*PROTEIN_WORDS, *DIET_WORDS))
    substitute = _alternation((*PROTEIN_WORDS, *DIET_WORDS, *VEGETABLE_WORDS))
    negation = _alternation(NEGATIONS)
    conjunction = _alternation(CONJUNCTIONS)

    negated_list = rf"{ingredient}(?:\s+{conjunction}\s+{ingredient})*"
    negated = (
        rf"\b{negation}\s+{negated_list}\b"
        rf"|\b{ingredient}\s+{_alternation(NEGATION_SUFFIXES)}\b"
    )

    return _Patterns(
        safe=_words(_alternation(SAFE_PHRASES)),
        not_vegetarian=_words(_alternation(NOT_VEGETARIAN_PHRASES)),
        option=_words(_alternation(OPTION_PHRASES)),
        declaration=_words(_alternation(DECLARATIONS)),
        modified_before=_modified_before(ingredient),
        modified_after=rf"\b{ingredient}\s+"
        rf"{_alternation(INGREDIENT_MODIFIERS_AFTER)}\b",
        negated=negated,
        main_dish_qualified_before=_qualified_before(substitute, main_dish),
        main_dish_qualified_after=_qualified_after(main_dish, substitute),
        classic_dish_qualified_before=_qualified_before(protein, classic_dish),
        classic_dish_qualified_after=_qualified_after(classic_dish, protein),
        dish_then_protein=_dish_then_protein(
            _alternation((main_dish, classic_dish)), _alternation(PROTEIN_WORDS)
        ),
        broth_dish_qualified=rf"\b{diet}\s+{broth_dish}\b",
        ingredient=_words(ingredient),
        dish=_words(_alternation((main_dish, classic_dish, broth_dish))),
    )


PATTERNS = _build_patterns()

_REWRITES = tuple((re.compile(p), token) for p, token in PATTERNS.rewrites())
_SCOPING = tuple((re.compile(p), token) for p, token in PATTERNS.scoping())
_DECLARATION = re.compile(PATTERNS.declaration)
_INGREDIENT = re.compile(PATTERNS.ingredient)
_DISH = re.compile(PATTERNS.dish)
_PHRASE_BREAK_RE = re.compile(_PHRASE_BREAK)
_NON_WORD_RE = re.compile(r"[^a-z0-9|]+")
_BREAK_RUN_RE = re.compile(r"\s*\|[\s|]*")
_SPACE_RUN_RE = re.compile(r" +")
_FOLD_TABLE = str.maketrans(_LETTER_FOLDS)


# ---------------------------------------------------------------------------
# Scalar entry points.
# ---------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Lower-case ``text``, strip accents and reduce it to words and breaks.

    Letters are folded to ASCII ("Jamón" to "jamon", "bœuf" to "boeuf"),
    phrase-ending punctuation becomes `` | `` and every other run of
    characters outside ``a-z0-9`` becomes one space. :func:`normalize_expr`
    does the same in polars.
    """
    lowered = unicodedata.normalize("NFKD", text.lower())
    # Drop every combining mark, as ``\p{M}`` does in :func:`normalize_expr`.
    stripped = "".join(
        char for char in lowered if not unicodedata.category(char).startswith("M")
    )
    folded = stripped.translate(_FOLD_TABLE)
    broken = _PHRASE_BREAK_RE.sub(_PHRASE_BREAK_TOKEN, folded)
    words = _NON_WORD_RE.sub(" ", broken)
    return _SPACE_RUN_RE.sub(" ", _BREAK_RUN_RE.sub(_PHRASE_BREAK_TOKEN, words)).strip()


def dish_text(name: str, description: str | None = None) -> str:
    """Return the normalised text that the rules read: name, a break, description."""
    parts = [normalize_text(name)]
    if description is not None:
        parts.append(normalize_text(description))
    return _PHRASE_BREAK_TOKEN.join(parts)


@dataclass(frozen=True)
class DishVerdict:
    """The decision for one dish and the terms behind it."""

    is_vegetarian: bool
    ingredient_terms: tuple[str, ...]
    dish_terms: tuple[str, ...]
    declared: bool


def explain_dish(name: str, description: str | None = None) -> DishVerdict:
    """Classify a dish by the lexicon and return the terms that decided it.

    ``dish_terms`` lists the dish terms still present, even when a declaration
    cancels them. ``declared`` is true when one did.
    """
    text = dish_text(name, description)
    for pattern, token in _REWRITES:
        text = pattern.sub(token, text)
    declared = _DECLARATION.search(text) is not None
    for pattern, token in _SCOPING:
        text = pattern.sub(token, text)
    ingredients = tuple(match.group(0) for match in _INGREDIENT.finditer(text))
    dishes = tuple(match.group(0) for match in _DISH.finditer(text))
    vegetarian = not ingredients and (declared or not dishes)
    return DishVerdict(vegetarian, ingredients, dishes, declared)


def is_vegetarian_dish(
    name: str, description: str | None = None, *, label: bool | None = None
) -> bool:
    """Return whether a dish is vegetarian: ``label`` if given, else the lexicon.

    A dish that names no meat or fish is vegetarian. See the module docstring
    for the rules.
    """
    if label is not None:
        return label
    return explain_dish(name, description).is_vegetarian


# ---------------------------------------------------------------------------
# Vectorised entry point.
# ---------------------------------------------------------------------------


def normalize_expr(text: pl.Expr) -> pl.Expr:
    """Apply :func:`normalize_text` to a polars text expression."""
    return (
        text.str.to_lowercase()
        .str.normalize("NFKD")
        .str.replace_all(r"\p{M}+", "")
        .str.replace_many(list(_LETTER_FOLDS), list(_LETTER_FOLDS.values()))
        .str.replace_all(_PHRASE_BREAK, _PHRASE_BREAK_TOKEN)
        .str.replace_all(r"[^a-z0-9|]+", " ")
        .str.replace_all(r"\s*\|[\s|]*", _PHRASE_BREAK_TOKEN)
        .str.replace_all(" +", " ")
        .str.strip_chars()
    )


def classify_menu(menu_items: pl.DataFrame) -> pl.DataFrame:
    """Add ``is_vegetarian_pred`` and ``vegetarian_evidence`` to menu items.

    ``menu_items`` needs ``name`` and may have ``description`` and
    ``is_vegetarian``; other columns pass through unchanged. A non-null
    ``is_vegetarian`` label is copied with evidence ``label``. Every other row
    is classified by the lexicon with evidence ``lexicon``, with the same result
    as :func:`is_vegetarian_dish` on its name and description.

    Raises:
        ValueError: ``name`` is missing.
    """
    if "name" not in menu_items.columns:
        msg = f"menu items need a 'name' column; found {menu_items.columns}"
        raise ValueError(msg)
    description = (
        normalize_expr(pl.col("description").cast(pl.String))
        if "description" in menu_items.columns
        else pl.lit(None, pl.String)
    )
    label = (
        pl.col("is_vegetarian").cast(pl.Boolean)
        if "is_vegetarian" in menu_items.columns
        else pl.lit(None, pl.Boolean)
    )
    text = pl.concat_str(
        [normalize_expr(pl.col("name").cast(pl.String)), description],
        separator=_PHRASE_BREAK_TOKEN,
        ignore_nulls=True,
    )
    for pattern, token in PATTERNS.rewrites():
        text = text.str.replace_all(pattern, token)
    rewritten = "_vegetarian_rewritten"
    scoped = "_vegetarian_scoped"
    declared = "_vegetarian_declared"
    frame = menu_items.with_columns(text.alias(rewritten))
    scoped_text = pl.col(rewritten)
    for pattern, token in PATTERNS.scoping():
        scoped_text = scoped_text.str.replace_all(pattern, token)
    frame = frame.with_columns(
        pl.col(rewritten).str.contains(PATTERNS.declaration).alias(declared),
        scoped_text.alias(scoped),
    )
    by_lexicon = ~pl.col(scoped).str.contains(PATTERNS.ingredient) & (
        pl.col(declared) | ~pl.col(scoped).str.contains(PATTERNS.dish)
    )
    return frame.with_columns(
        pl.coalesce(label, by_lexicon).alias(PREDICTION_COLUMN),
        pl.when(label.is_not_null())
        .then(pl.lit(EVIDENCE_LABEL))
        .otherwise(pl.lit(EVIDENCE_LEXICON))
        .alias(EVIDENCE_COLUMN),
    ).drop(rewritten, scoped, declared)
