"""Fixed word lists the sample library is composed from (no external data, so output is stable).

Each subject heading carries the audience it is written for and a "family" choosing the words of
its titles; readers' tastes are mixtures of these subjects.
"""

from __future__ import annotations

from typing import Final

from recsys.columns import Audiences

CHILDREN: Final = Audiences.CHILDREN
YOUNG_ADULT: Final = Audiences.YOUNG_ADULT
ADULT: Final = Audiences.ADULT

# (heading, audience, title family, relative demand). Ordered so that any prefix of at least
# eight headings covers all three audiences: small samples use a prefix.
SUBJECTS: Final[tuple[tuple[str, str, str, float], ...]] = (
    ("Detective and mystery stories", ADULT, "mystery", 3.0),
    ("Picture books for children", CHILDREN, "children", 2.5),
    ("Love stories", ADULT, "romance", 1.8),
    ("Young adult fiction", YOUNG_ADULT, "youth", 1.2),
    ("Historical fiction", ADULT, "history", 1.5),
    ("Animals -- Juvenile fiction", CHILDREN, "children", 1.5),
    ("Cooking", ADULT, "home", 1.0),
    ("Fantasy fiction", ADULT, "fantasy", 1.2),
    ("Thrillers (Fiction)", ADULT, "mystery", 2.0),
    ("Graphic novels", YOUNG_ADULT, "youth", 0.9),
    ("Adventure stories -- Juvenile fiction", CHILDREN, "children", 1.3),
    ("Biographies", ADULT, "people", 1.0),
    ("Science fiction", ADULT, "fantasy", 0.9),
    ("Domestic fiction", ADULT, "literary", 1.4),
    ("World War, 1939-1945", ADULT, "history", 0.8),
    ("Easy readers", CHILDREN, "children", 1.2),
    ("Gardening", ADULT, "home", 0.6),
    ("Dystopias -- Young adult fiction", YOUNG_ADULT, "youth", 0.6),
    ("Psychological fiction", ADULT, "literary", 1.0),
    ("Travel -- Guidebooks", ADULT, "travel", 0.7),
    ("Friendship -- Juvenile fiction", CHILDREN, "children", 1.0),
    ("Police procedurals", ADULT, "mystery", 1.3),
    ("Self-help techniques", ADULT, "self", 0.8),
    ("Feature films", ADULT, "film", 0.9),
    ("Horror tales", ADULT, "fantasy", 0.5),
    ("Popular science", ADULT, "science", 0.6),
    ("Fairy tales", CHILDREN, "children", 0.8),
    ("Baking", ADULT, "home", 0.6),
    ("Humorous fiction", ADULT, "literary", 0.6),
    ("Sweden -- History", ADULT, "history", 0.5),
    ("Science -- Juvenile literature", CHILDREN, "science", 0.5),
    ("Health and nutrition", ADULT, "self", 0.6),
    ("Short stories", ADULT, "literary", 0.5),
    ("Birds -- Identification", ADULT, "science", 0.4),
    ("Knitting -- Patterns", ADULT, "home", 0.5),
    ("Poetry", ADULT, "literary", 0.3),
    ("Fantasy fiction -- Young adult", YOUNG_ADULT, "youth", 0.7),
    ("Economics", ADULT, "self", 0.3),
    ("Art -- History", ADULT, "people", 0.3),
    ("Political science", ADULT, "people", 0.3),
)

# Secondary, geographic subject terms appended to some fiction ("...; Sweden").
PLACES: Final = (
    "Sweden",
    "Stockholm",
    "Gothenburg",
    "England",
    "London",
    "Scotland",
    "Norway",
    "Iceland",
    "Italy",
    "France",
    "Paris",
    "New York",
    "Berlin",
    "Finland",
)

FIRST_NAMES: Final = (
    "Anna",
    "Erik",
    "Maria",
    "Lars",
    "Karin",
    "Johan",
    "Eva",
    "Anders",
    "Sara",
    "Per",
    "Emma",
    "Nils",
    "Ingrid",
    "Oskar",
    "Elin",
    "Magnus",
    "Lena",
    "Henrik",
    "Sofia",
    "Gustav",
    "Maja",
    "Jonas",
    "Astrid",
    "Viktor",
    "Clara",
    "Peter",
    "Helen",
    "James",
    "Ruth",
    "Daniel",
    "Alice",
    "Thomas",
    "Grace",
    "Samuel",
    "Nora",
    "David",
    "Julia",
    "Hugo",
    "Ida",
    "Felix",
)
LAST_NAMES: Final = (
    "Lindqvist",
    "Berg",
    "Holm",
    "Sandberg",
    "Nyström",
    "Ek",
    "Wallin",
    "Lund",
    "Forsberg",
    "Hedlund",
    "Strand",
    "Engström",
    "Björk",
    "Sjöberg",
    "Dahl",
    "Nord",
    "Falk",
    "Lindgren",
    "Åberg",
    "Moberg",
    "Carter",
    "Hughes",
    "Reed",
    "Morgan",
    "Bell",
    "Ward",
    "Fletcher",
    "Hale",
    "Barnes",
    "Sutton",
    "Marsh",
    "Whitaker",
    "Quinn",
    "Ashby",
    "Doyle",
    "Penrose",
    "Lowell",
    "Kemp",
    "Vance",
    "Rowe",
)

# Title words per family: (adjectives, nouns).
WORDS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "mystery": (
        ("Silent", "Cold", "Dark", "Hidden", "Last", "Frozen", "Missing", "Deadly", "Quiet"),
        (
            "Harbour",
            "Witness",
            "Grave",
            "Secret",
            "Murder",
            "Shadow",
            "Lighthouse",
            "Alibi",
            "Ice",
            "Confession",
            "Island",
            "Verdict",
        ),
    ),
    "romance": (
        ("Summer", "Sweet", "Second", "Lost", "Little", "Secret", "Golden", "Wild"),
        ("Heart", "Bakery", "Promise", "Garden", "Letters", "Kiss", "Cottage", "Wedding", "Season"),
    ),
    "history": (
        ("Forgotten", "Iron", "Burning", "Northern", "Last", "Long", "Royal", "Broken"),
        ("Crown", "War", "Winter", "Kingdom", "Empire", "Daughter", "Voyage", "Front", "Estate"),
    ),
    "fantasy": (
        ("Crimson", "Endless", "Starlit", "Hollow", "Burning", "Ancient", "Silver", "Shattered"),
        ("Throne", "Dragon", "Star", "Gate", "Mage", "Colony", "Signal", "Crown", "Void"),
    ),
    "literary": (
        ("Quiet", "Small", "Ordinary", "Bright", "Distant", "Late", "Unfinished", "Blue"),
        ("House", "Years", "Sister", "River", "Summer", "Family", "Rooms", "Silence", "Field"),
    ),
    "youth": (
        ("Brave", "Wild", "Broken", "Rebel", "Electric", "Invisible", "Fierce", "Wicked"),
        ("Hearts", "Academy", "Rebellion", "Summer", "Girl", "Boy", "Storm", "Code", "Crown"),
    ),
    "children": (
        ("Little", "Happy", "Sleepy", "Brave", "Hungry", "Curious", "Tiny", "Magic", "Muddy"),
        (
            "Bear",
            "Fox",
            "Rabbit",
            "Dragon",
            "Tractor",
            "Moose",
            "Pirate",
            "Hedgehog",
            "Cat",
            "Owl",
            "Robot",
        ),
    ),
    "home": (
        ("Simple", "Everyday", "Seasonal", "Nordic", "Quick", "Green", "Slow", "Homemade"),
        ("Kitchen", "Bread", "Garden", "Dinners", "Cakes", "Soups", "Harvest", "Stitches"),
    ),
    "people": (
        ("Remarkable", "Unlikely", "Restless", "Public", "Radical", "Private", "Great"),
        ("Life", "Lives", "Years", "Power", "Portraits", "Memoir", "Journey", "Century"),
    ),
    "travel": (
        ("Northern", "Coastal", "Hidden", "Wild", "Best of", "Walking in", "Slow"),
        ("Scandinavia", "Italy", "Lapland", "Europe", "Islands", "Alps", "Cities", "Roads"),
    ),
    "self": (
        ("Calm", "Better", "Healthy", "Mindful", "Strong", "Simple", "Smart", "Happy"),
        ("Mind", "Habits", "Sleep", "Money", "Body", "Work", "Choices", "Living"),
    ),
    "science": (
        ("Hidden", "Secret", "Amazing", "Curious", "Invisible", "Big", "Wild", "Tiny"),
        ("Universe", "Birds", "Brain", "Planet", "Forest", "Ocean", "Atoms", "Insects"),
    ),
    "film": (
        ("Midnight", "Lonely", "Last", "Wild", "Blue", "Dangerous", "Perfect", "Golden"),
        ("Road", "Summer", "Heist", "Escape", "Mission", "Night", "Game", "Stranger"),
    ),
}

# Title templates: {a} adjective, {n} noun, {n2} second noun, {f} first name, {p} place.
TEMPLATES: Final = (
    "The {a} {n}",
    "{a} {n}",
    "The {n} of {p}",
    "{f} and the {a} {n}",
    "A {n} in {p}",
    "The {n}",
    "{f}'s {n}",
    "{n} and {n2}",
    "The {a} {n} of {p}",
    "After the {n}",
)

LANGUAGES: Final = ("eng", "swe", "ara", "fin", "spa", "ger", "fre", "per")
LANGUAGE_SHARES: Final = (0.78, 0.13, 0.025, 0.02, 0.015, 0.01, 0.01, 0.01)

FORMATS: Final = ("book", "large_print", "audiobook", "ebook", "dvd")
# Formats of second and third editions (a second "book" is the paperback).
EDITION_FORMATS: Final = ("book", "audiobook", "large_print", "ebook")
EDITION_FORMAT_SHARES: Final = (0.4, 0.32, 0.13, 0.15)
# How often an edition of a format is chosen relative to the first printed edition.
FORMAT_DEMAND: Final = {"book": 0.6, "audiobook": 0.45, "large_print": 0.15, "ebook": 0.3}

BRANCHES: Final = (
    "central",
    "harbour",
    "northside",
    "oakfield",
    "riverside",
    "eastgate",
    "hillcrest",
    "westbrook",
)
