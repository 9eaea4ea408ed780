"""Dish lexicon of the synthetic world: names in English and Spanish, by cuisine.

Every dish has a true diet class. ``vegetarian`` and ``vegan`` dishes contain
no meat or fish. ``fish`` covers seafood and also dishes made with fish
sauce, anchovies or dashi (a Caesar salad, miso soup, som tam), which look
vegetarian by name but are not. Menus draw from the pool of their cuisine, so
a dish name always carries the same diet, course and kind wherever it is
served, and :func:`dish_catalog` can be joined to menu items by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

MEAT = "meat"
FISH = "fish"
VEGETARIAN = "vegetarian"
VEGAN = "vegan"
VEGETARIAN_DIETS = frozenset({VEGETARIAN, VEGAN})

MAIN = "main"
SIDE = "side"
DRINK = "drink"
DESSERT = "dessert"

COFFEE = "coffee"
TEA = "tea"
PIZZA = "pizza"


@dataclass(frozen=True)
class Dish:
    """One dish: name, true diet class, course, special kind and description."""

    name: str
    diet: str
    course: str
    kind: str | None = None
    description: str | None = None

    @property
    def is_vegetarian(self) -> bool:
        return self.diet in VEGETARIAN_DIETS


Row = tuple[str, str] | tuple[str, str, str]


def _section(course: str, rows: list[Row], kind: str | None = None) -> list[Dish]:
    """Dishes of one course from (name, diet[, description]) rows."""
    dishes = []
    for row in rows:
        description = row[2] if len(row) == 3 else None
        dishes.append(Dish(row[0], row[1], course, kind, description))
    return dishes


PIZZAS = _section(
    MAIN,
    [
        ("Pepperoni Pizza", MEAT, "Tomato sauce, mozzarella and pepperoni."),
        ("Margherita Pizza", VEGETARIAN, "Tomato, mozzarella and fresh basil."),
        ("Pizza Margarita", VEGETARIAN, "Tomate, mozzarella y albahaca."),
        ("Four Cheese Pizza", VEGETARIAN),
        ("Pizza cuatro quesos", VEGETARIAN, "Mozzarella, gorgonzola, parmesano."),
        ("Hawaiian Pizza", MEAT, "Ham and pineapple."),
        ("Pizza barbacoa", MEAT, "Carne picada, bacon y salsa barbacoa."),
        ("BBQ Chicken Pizza", MEAT),
        ("Pizza de atún", FISH, "Atún, cebolla y aceitunas negras."),
        ("Seafood Pizza", FISH, "Prawns, squid and mussels."),
        ("Pizza prosciutto", MEAT),
        ("Mushroom Pizza", VEGETARIAN),
        ("Pizza de verduras", VEGETARIAN, "Pimiento, calabacín y berenjena."),
        ("Vegan Garden Pizza", VEGAN, "Vegan cheese, peppers and olives."),
        ("Pizza marinara", VEGAN, "Tomate, ajo y orégano, sin queso."),
        ("Meat Feast Pizza", MEAT),
        ("Pizza diavola", MEAT, "Salami picante y guindilla."),
        ("Pizza carbonara", MEAT),
        ("Spinach and Ricotta Pizza", VEGETARIAN),
    ],
    kind=PIZZA,
)

PIZZA_SIDES = _section(
    SIDE,
    [
        ("Garlic Bread", VEGETARIAN),
        ("Pan de ajo con queso", VEGETARIAN),
        ("Chicken Wings", MEAT),
        ("Alitas de pollo", MEAT, "Alitas al horno con salsa picante."),
        ("Dough Balls", VEGETARIAN, "With garlic butter."),
        ("Caesar Salad", FISH, "Romaine, parmesan and anchovy dressing."),
    ],
)

ITALIAN = _section(
    MAIN,
    [
        ("Spaghetti Carbonara", MEAT, "Guanciale, egg yolk and pecorino."),
        ("Espaguetis a la boloñesa", MEAT),
        ("Lasagne", MEAT, "Beef ragù and béchamel."),
        ("Lasaña de verduras", VEGETARIAN),
        ("Penne all'arrabbiata", VEGAN, "Spicy tomato and garlic."),
        ("Risotto ai funghi", VEGETARIAN),
        ("Ravioli de ricota y espinacas", VEGETARIAN),
        ("Gnocchi al pesto", VEGETARIAN),
        ("Linguine alle vongole", FISH, "Clams, white wine and parsley."),
        ("Tagliatelle al salmón", FISH),
        ("Chicken Parmigiana", MEAT),
        ("Minestrone", VEGAN),
        ("Vitello tonnato", MEAT),
        ("Melanzane alla parmigiana", VEGETARIAN),
        ("Ensalada caprese", VEGETARIAN, "Tomate, mozzarella y albahaca."),
    ],
)

BURGERS = _section(
    MAIN,
    [
        ("Classic Cheeseburger", MEAT, "Beef patty, cheddar, pickles."),
        ("Hamburguesa clásica", MEAT),
        ("Bacon Double Burger", MEAT),
        ("Hamburguesa de pollo crujiente", MEAT),
        ("Veggie Burger", VEGETARIAN, "Black bean patty, cheddar and lettuce."),
        ("Hamburguesa vegana", VEGAN, "Hamburguesa de garbanzos, sin lácteos."),
        ("Mushroom Swiss Burger", MEAT),
        ("Fish Burger", FISH),
        ("Smash Burger", MEAT),
        ("Halloumi Burger", VEGETARIAN),
        ("Chicken Tenders", MEAT),
        ("Hot Dog", MEAT),
        ("Perrito caliente", MEAT),
        ("Beyond Burger", VEGAN, "Plant-based patty, vegan mayo."),
    ],
)

FRIES_AND_SIDES = _section(
    SIDE,
    [
        ("French Fries", VEGAN),
        ("Patatas fritas", VEGAN),
        ("Sweet Potato Fries", VEGAN),
        ("Onion Rings", VEGETARIAN),
        ("Aros de cebolla", VEGETARIAN),
        ("Loaded Fries with Bacon", MEAT),
        ("Coleslaw", VEGETARIAN),
        ("Nuggets de pollo", MEAT),
    ],
)

MILKSHAKES = _section(
    DRINK,
    [
        ("Chocolate Milkshake", VEGETARIAN),
        ("Batido de fresa", VEGETARIAN),
        ("Vanilla Milkshake", VEGETARIAN),
    ],
)

STEAKHOUSE = _section(
    MAIN,
    [
        ("Ribeye Steak", MEAT, "300 g, grilled over charcoal."),
        ("Entrecot a la parrilla", MEAT),
        ("Sirloin Steak", MEAT),
        ("Solomillo de ternera", MEAT, "Con salsa de pimienta."),
        ("T-Bone Steak", MEAT),
        ("Chuletón de buey", MEAT, "Un kilo, para compartir."),
        ("Filet Mignon", MEAT),
        ("Picaña", MEAT),
        ("Lamb Chops", MEAT),
        ("Chuletas de cordero", MEAT),
        ("Parrillada mixta", MEAT, "Chorizo, morcilla, pollo y ternera."),
        ("Grilled Chicken Breast", MEAT),
        ("Steak Sandwich", MEAT),
        ("Carpaccio de ternera", MEAT),
        ("Grilled Salmon", FISH),
    ],
)

STEAKHOUSE_SIDES = _section(
    SIDE,
    [
        ("Baked Potato", VEGETARIAN, "With sour cream and chives."),
        ("Creamed Spinach", VEGETARIAN),
        ("Ensalada mixta", VEGAN),
        ("Mac and Cheese", VEGETARIAN),
        ("Bacon-Wrapped Asparagus", MEAT),
        ("Morcilla de Burgos", MEAT),
    ],
)

BBQ = _section(
    MAIN,
    [
        ("Pulled Pork Sandwich", MEAT),
        ("Beef Brisket", MEAT, "Smoked for 14 hours."),
        ("Costillas BBQ", MEAT, "Costillas de cerdo ahumadas."),
        ("Smoked Sausage", MEAT),
        ("Burnt Ends", MEAT),
        ("Pollo ahumado", MEAT),
        ("Baby Back Ribs", MEAT),
        ("Brisket Tacos", MEAT),
        ("Smoked Turkey", MEAT),
        ("BBQ Platter", MEAT, "Brisket, ribs and sausage."),
        ("Chili con carne", MEAT),
        ("Pulled Jackfruit Sandwich", VEGAN),
    ],
)

BBQ_SIDES = _section(
    SIDE,
    [
        ("Cornbread", VEGETARIAN),
        ("Baked Beans with Bacon", MEAT),
        ("Corn on the Cob", VEGETARIAN),
        ("Mac and Cheese", VEGETARIAN),
        ("Coleslaw", VEGETARIAN),
        ("Pork Crackling", MEAT),
    ],
)

MEXICAN = _section(
    MAIN,
    [
        ("Tacos al pastor", MEAT, "Cerdo adobado con piña y cilantro."),
        ("Tacos de carnitas", MEAT),
        ("Tacos de pescado", FISH, "Pescado rebozado con col y chipotle."),
        ("Burrito de pollo", MEAT),
        ("Bean Burrito", VEGETARIAN, "Refried beans, rice and cheese."),
        ("Quesadilla de queso", VEGETARIAN),
        ("Quesadilla de flor de calabaza", VEGETARIAN),
        ("Enchiladas verdes de pollo", MEAT),
        ("Enchiladas de queso", VEGETARIAN),
        ("Chiles rellenos", VEGETARIAN, "Chile poblano relleno de queso."),
        ("Pozole rojo", MEAT),
        ("Chicken Fajitas", MEAT),
        ("Veggie Fajitas", VEGAN, "Peppers, onions and black beans."),
        ("Tostadas de tinga", MEAT),
        ("Ceviche de camarón", FISH),
        ("Mole poblano", MEAT, "Pollo en mole con ajonjolí."),
        ("Tamales de rajas", VEGETARIAN),
        ("Tacos de nopales", VEGAN),
        ("Sopa de tortilla", VEGETARIAN),
    ],
)

MEXICAN_SIDES = _section(
    SIDE,
    [
        ("Guacamole con totopos", VEGAN),
        ("Nachos with Cheese", VEGETARIAN),
        ("Elote", VEGETARIAN, "Mazorca con mayonesa, queso y chile."),
        ("Frijoles refritos", VEGAN),
    ],
)

MEXICAN_DRINKS = _section(
    DRINK,
    [
        ("Horchata", VEGETARIAN),
        ("Agua de jamaica", VEGAN),
    ],
)

SUSHI = _section(
    MAIN,
    [
        ("Salmon Nigiri", FISH),
        ("Nigiri de atún", FISH),
        ("California Roll", FISH, "Crab stick, avocado and cucumber."),
        ("Spicy Tuna Roll", FISH),
        ("Dragon Roll", FISH, "Prawn tempura topped with eel."),
        ("Avocado Maki", VEGAN),
        ("Maki de pepino", VEGAN),
        ("Vegetable Tempura", VEGETARIAN),
        ("Prawn Tempura", FISH),
        ("Chicken Teriyaki", MEAT),
        ("Tonkotsu Ramen", MEAT, "Pork broth, chashu and egg."),
        ("Ramen de miso con tofu", VEGAN),
        ("Sashimi variado", FISH),
        ("Poke de salmón", FISH),
        ("Tofu Poke Bowl", VEGAN),
        ("Gyoza de cerdo", MEAT),
        ("Vegetable Gyoza", VEGAN),
    ],
)

SUSHI_SIDES = _section(
    SIDE,
    [
        ("Edamame", VEGAN),
        ("Miso Soup", FISH, "Dashi broth with tofu and wakame."),
        ("Seaweed Salad", VEGAN),
    ],
)

INDIAN = _section(
    MAIN,
    [
        ("Chicken Tikka Masala", MEAT),
        ("Butter Chicken", MEAT, "Tandoori chicken in a tomato cream sauce."),
        ("Lamb Rogan Josh", MEAT),
        ("Pollo tandoori", MEAT),
        ("Prawn Curry", FISH),
        ("Palak Paneer", VEGETARIAN, "Spinach and fresh cheese."),
        ("Chana Masala", VEGAN),
        ("Dal Tadka", VEGETARIAN),
        ("Aloo Gobi", VEGAN),
        ("Vegetable Biryani", VEGETARIAN),
        ("Biryani de cordero", MEAT),
        ("Paneer Tikka", VEGETARIAN),
        ("Lamb Vindaloo", MEAT),
        ("Malai Kofta", VEGETARIAN),
    ],
)

INDIAN_SIDES = _section(
    SIDE,
    [
        ("Samosas de verduras", VEGAN),
        ("Onion Bhaji", VEGAN),
        ("Garlic Naan", VEGETARIAN),
        ("Pan naan con queso", VEGETARIAN),
        ("Basmati Rice", VEGAN),
    ],
)

INDIAN_DRINKS_AND_DESSERTS = [
    *_section(DRINK, [("Mango Lassi", VEGETARIAN)]),
    *_section(DESSERT, [("Gulab Jamun", VEGETARIAN)]),
]

CHINESE = _section(
    MAIN,
    [
        ("Kung Pao Chicken", MEAT),
        ("Pollo agridulce", MEAT),
        ("Sweet and Sour Pork", MEAT),
        ("Beef with Broccoli", MEAT),
        ("Ternera con bambú y setas", MEAT),
        ("Char Siu Pork", MEAT),
        ("Arroz tres delicias", MEAT, "Arroz frito con jamón, huevo y guisantes."),
        ("Vegetable Fried Rice", VEGETARIAN, "With egg and spring onion."),
        ("Tallarines con verduras", VEGAN),
        ("Chicken Chow Mein", MEAT),
        ("Mapo Tofu", MEAT, "Silken tofu with minced pork and chilli."),
        ("Tofu salteado con verduras", VEGAN),
        ("Pato laqueado", MEAT),
        ("Salt and Pepper Squid", FISH),
        ("Egg Fried Rice", VEGETARIAN),
    ],
)

CHINESE_SIDES = _section(
    SIDE,
    [
        ("Spring Rolls", VEGAN),
        ("Rollitos de primavera", VEGAN),
        ("Dim sum de gambas", FISH),
        ("Hot and Sour Soup", MEAT),
        ("Sopa wantán", MEAT),
    ],
)

THAI = _section(
    MAIN,
    [
        ("Pad thai con gambas", FISH),
        ("Chicken Pad Thai", MEAT),
        ("Vegan Tofu Pad Thai", VEGAN, "Rice noodles, tofu and soy sauce."),
        ("Green Curry with Chicken", MEAT),
        ("Curry rojo de ternera", MEAT),
        ("Massaman Curry", MEAT, "Beef, potatoes and peanuts."),
        ("Vegetable Green Curry", VEGAN),
        ("Tom Yum Goong", FISH),
        ("Tom Kha Gai", MEAT),
        ("Som Tam", FISH, "Green papaya salad with fish sauce."),
        ("Thai Basil Chicken", MEAT),
        ("Pineapple Fried Rice", VEGETARIAN),
        ("Satay de pollo", MEAT),
        ("Panang Curry with Tofu", VEGAN),
    ],
)

THAI_DRINKS_AND_DESSERTS = [
    *_section(DRINK, [("Thai Iced Tea", VEGETARIAN)], kind=TEA),
    *_section(DESSERT, [("Mango Sticky Rice", VEGAN)]),
]

MEDITERRANEAN = _section(
    MAIN,
    [
        ("Falafel Wrap", VEGAN, "Falafel, hummus and pickled vegetables."),
        ("Chicken Shawarma", MEAT),
        ("Shawarma de ternera", MEAT),
        ("Lamb Kofta", MEAT),
        ("Greek Salad", VEGETARIAN, "Feta, olives, tomato and cucumber."),
        ("Ensalada griega", VEGETARIAN),
        ("Moussaka", MEAT),
        ("Spanakopita", VEGETARIAN),
        ("Grilled Halloumi", VEGETARIAN),
        ("Gyros de cerdo", MEAT),
        ("Souvlaki de pollo", MEAT),
        ("Grilled Octopus", FISH),
        ("Lubina a la plancha", FISH),
    ],
)

MEZZE = _section(
    SIDE,
    [
        ("Hummus con pan de pita", VEGAN),
        ("Baba Ganoush", VEGAN),
        ("Tabbouleh", VEGAN),
        ("Dolmades", VEGAN, "Vine leaves stuffed with rice and herbs."),
        ("Tzatziki", VEGETARIAN),
    ],
)

SPANISH = _section(
    MAIN,
    [
        ("Paella de marisco", FISH),
        ("Paella valenciana", MEAT, "Pollo, conejo y judías verdes."),
        ("Paella de verduras", VEGAN),
        ("Arroz negro", FISH, "Arroz con tinta de calamar y alioli."),
        ("Tortilla de patatas", VEGETARIAN),
        ("Gambas al ajillo", FISH),
        ("Pulpo a la gallega", FISH),
        ("Albóndigas en salsa", MEAT),
        ("Salmorejo", MEAT, "Con huevo duro y jamón."),
        ("Gazpacho", VEGAN),
        ("Ensalada César con pollo", MEAT),
        ("Bacalao al pil pil", FISH),
    ],
)

TAPAS = _section(
    SIDE,
    [
        ("Patatas bravas", VEGAN),
        ("Croquetas de jamón", MEAT),
        ("Croquetas de setas", VEGETARIAN),
        ("Jamón ibérico", MEAT),
        ("Pimientos de Padrón", VEGAN),
        ("Calamares a la romana", FISH),
        ("Pan con tomate", VEGAN),
        ("Chorizo a la sidra", MEAT),
    ],
)

SEAFOOD = _section(
    MAIN,
    [
        ("Fish and Chips", FISH, "Beer-battered cod with chips."),
        ("Grilled Salmon", FISH),
        ("Salmón a la plancha", FISH),
        ("Shrimp Scampi", FISH),
        ("Mejillones a la marinera", FISH),
        ("Clam Chowder", FISH),
        ("Lobster Roll", FISH),
        ("Calamares fritos", FISH),
        ("Ceviche de corvina", FISH),
        ("Fish Tacos", FISH),
        ("Oysters", FISH, "Half a dozen, with lemon."),
        ("Crab Cakes", FISH),
        ("Arroz negro", FISH, "Arroz con tinta de calamar y alioli."),
        ("Paella de marisco", FISH),
    ],
)

SALADS = _section(
    SIDE,
    [
        ("Ensalada verde", VEGAN),
        ("Side Salad", VEGAN),
    ],
)

COFFEES = _section(
    DRINK,
    [
        ("Espresso", VEGAN),
        ("Americano", VEGAN),
        ("Flat White", VEGETARIAN),
        ("Cappuccino", VEGETARIAN),
        ("Café con leche", VEGETARIAN),
        ("Cortado", VEGETARIAN),
        ("Latte", VEGETARIAN),
        ("Caffè Mocha", VEGETARIAN),
        ("Iced Latte", VEGETARIAN),
        ("Cold Brew", VEGAN),
        ("Café bombón", VEGETARIAN, "Espresso con leche condensada."),
        ("Oat Milk Latte", VEGAN),
        ("Café de olla", VEGAN, "Café con canela y piloncillo."),
    ],
    kind=COFFEE,
)

TEAS = _section(
    DRINK,
    [
        ("Té verde", VEGAN),
        ("Sencha Green Tea", VEGAN),
        ("Earl Grey", VEGAN),
        ("English Breakfast Tea", VEGAN),
        ("Té chai con leche", VEGETARIAN),
        ("Chai Latte", VEGETARIAN),
        ("Matcha Latte", VEGETARIAN),
        ("Oolong", VEGAN),
        ("Té rojo Pu-erh", VEGAN),
        ("Rooibos", VEGAN),
        ("Té de menta", VEGAN),
        ("Manzanilla", VEGAN),
        ("Jasmine Tea", VEGAN),
        ("Bubble Tea", VEGETARIAN, "Black milk tea with tapioca pearls."),
        ("Taro Milk Tea", VEGETARIAN),
        ("Iced Peach Tea", VEGAN),
    ],
    kind=TEA,
)

CAFE_FOOD = _section(
    SIDE,
    [
        ("Croissant", VEGETARIAN),
        ("Croissant de jamón y queso", MEAT),
        ("Pain au chocolat", VEGETARIAN),
        ("Banana Bread", VEGETARIAN),
        ("Tostada con aguacate", VEGAN),
        ("Bacon Sandwich", MEAT),
        ("Tuna Melt", FISH),
        ("Bocadillo de jamón", MEAT),
        ("Magdalenas", VEGETARIAN),
        ("Blueberry Muffin", VEGETARIAN),
        ("Scones with Jam", VEGETARIAN),
        ("Cucumber Sandwich", VEGETARIAN),
    ],
)

CAFE_SWEETS = _section(
    DESSERT,
    [
        ("Carrot Cake", VEGETARIAN),
        ("Vegan Brownie", VEGAN),
        ("Macarons", VEGETARIAN),
        ("Lemon Cake", VEGETARIAN),
    ],
)

HOT_CHOCOLATE = _section(DRINK, [("Hot Chocolate", VEGETARIAN)])

VEGETARIAN_MAINS = _section(
    MAIN,
    [
        ("Buddha Bowl", VEGAN, "Quinoa, roast squash, chickpeas and tahini."),
        ("Ensalada de quinoa", VEGAN),
        ("Lentil Curry", VEGAN),
        ("Shakshuka", VEGETARIAN, "Eggs poached in spiced tomato sauce."),
        ("Spinach and Ricotta Cannelloni", VEGETARIAN),
        ("Portobello Mushroom Burger", VEGETARIAN),
        ("Risotto de espárragos", VEGETARIAN),
        ("Chili sin carne", VEGAN),
        ("Seitan Kebab", VEGAN),
        ("Jackfruit Tacos", VEGAN),
        ("Tempeh Bowl", VEGAN),
        ("Vegan Mac and Cheese", VEGAN, "Cashew cheese sauce."),
        ("Lentejas estofadas con verduras", VEGAN),
        ("Berenjenas rellenas", VEGETARIAN),
    ],
)

SMOOTHIES = _section(
    DRINK,
    [
        ("Green Smoothie", VEGAN, "Spinach, apple, banana and ginger."),
        ("Zumo verde", VEGAN),
        ("Batido de plátano y avena", VEGAN),
    ],
)

DRINKS = _section(
    DRINK,
    [
        ("Lemonade", VEGAN),
        ("Limonada casera", VEGAN),
        ("Sparkling Water", VEGAN),
        ("Agua mineral", VEGAN),
        ("Fresh Orange Juice", VEGAN),
        ("Zumo de naranja natural", VEGAN),
        ("Cola", VEGAN),
        ("Refresco de limón", VEGAN),
    ],
)

DESSERTS = _section(
    DESSERT,
    [
        ("Chocolate Brownie", VEGETARIAN),
        ("Cheesecake", VEGETARIAN),
        ("Tarta de queso", VEGETARIAN),
        ("Flan casero", VEGETARIAN),
        ("Churros con chocolate", VEGETARIAN),
        ("Arroz con leche", VEGETARIAN),
        ("Tiramisú", VEGETARIAN),
        ("Apple Pie", VEGETARIAN),
        ("Helado de vainilla", VEGETARIAN),
        ("Vegan Chocolate Mousse", VEGAN),
        ("Fruit Salad", VEGAN),
        ("Macedonia de frutas", VEGAN),
    ],
)


def _vegan(dishes: list[Dish]) -> list[Dish]:
    return [dish for dish in dishes if dish.diet == VEGAN]


def _vegetarian(dishes: list[Dish]) -> list[Dish]:
    return [dish for dish in dishes if dish.is_vegetarian]


_COMMON = [*DRINKS, *DESSERTS]

# The dishes a restaurant of each primary cuisine draws its menu from.
CUISINE_POOLS: dict[str, tuple[Dish, ...]] = {
    "pizza": (*PIZZAS, *PIZZA_SIDES, *_COMMON),
    "italian": (*ITALIAN, *PIZZAS[:8], *PIZZA_SIDES, *_COMMON),
    "burgers": (*BURGERS, *FRIES_AND_SIDES, *MILKSHAKES, *_COMMON),
    "steakhouse": (*STEAKHOUSE, *STEAKHOUSE_SIDES, *_COMMON),
    "bbq": (*BBQ, *BBQ_SIDES, *_COMMON),
    "mexican": (*MEXICAN, *MEXICAN_SIDES, *MEXICAN_DRINKS, *_COMMON),
    "sushi": (*SUSHI, *SUSHI_SIDES, *_COMMON),
    "indian": (*INDIAN, *INDIAN_SIDES, *INDIAN_DRINKS_AND_DESSERTS, *_COMMON),
    "chinese": (*CHINESE, *CHINESE_SIDES, *_COMMON),
    "thai": (*THAI, *THAI_DRINKS_AND_DESSERTS, *_COMMON),
    "mediterranean": (*MEDITERRANEAN, *MEZZE, *_COMMON),
    "spanish": (*SPANISH, *TAPAS, *_COMMON),
    "seafood": (*SEAFOOD, *SALADS, *FRIES_AND_SIDES[:2], *_COMMON),
    "cafe": (*COFFEES, *TEAS[:6], *HOT_CHOCOLATE, *CAFE_FOOD, *CAFE_SWEETS),
    "tea": (*TEAS, *CAFE_FOOD[8:], *CAFE_SWEETS),
    "vegetarian": (
        *VEGETARIAN_MAINS,
        *_vegetarian([*BURGERS, *MEDITERRANEAN, *MEZZE, *INDIAN, *ITALIAN]),
        *SMOOTHIES,
        *_vegetarian(_COMMON),
    ),
    "vegan": (
        *_vegan(VEGETARIAN_MAINS),
        *_vegan([*BURGERS, *PIZZAS, *THAI, *SUSHI, *MEXICAN, *MEZZE]),
        *SMOOTHIES,
        *_vegan(_COMMON),
    ),
}

CUISINES: tuple[str, ...] = tuple(CUISINE_POOLS)


def all_dishes() -> tuple[Dish, ...]:
    """Return every dish of the lexicon once, in first-seen order.

    Raises:
        ValueError: two dishes share a name but differ in diet, course, kind
            or description, so a name would not identify the dish.
    """
    seen: dict[str, Dish] = {}
    for pool in CUISINE_POOLS.values():
        for dish in pool:
            known = seen.setdefault(dish.name, dish)
            if known != dish:
                msg = f"dish {dish.name!r} is defined twice with different fields"
                raise ValueError(msg)
    return tuple(seen.values())


def dish_catalog() -> pl.DataFrame:
    """Return the lexicon as a frame: name, diet, course, kind, is_vegetarian.

    Menu items of a synthetic world carry these names, so joining on ``name``
    gives each item its true diet; tests and label checks use it.
    """
    dishes = all_dishes()
    return pl.DataFrame(
        {
            "name": [dish.name for dish in dishes],
            "diet": [dish.diet for dish in dishes],
            "course": [dish.course for dish in dishes],
            "kind": [dish.kind for dish in dishes],
            "is_vegetarian": [dish.is_vegetarian for dish in dishes],
        },
        schema={
            "name": pl.String,
            "diet": pl.String,
            "course": pl.String,
            "kind": pl.String,
            "is_vegetarian": pl.Boolean,
        },
    )
