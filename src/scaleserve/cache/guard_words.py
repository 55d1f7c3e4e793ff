"""The word lists of the false-hit guard (``scaleserve.cache.guard``): English only."""

from __future__ import annotations

NEGATIONS = frozenset(
    {
        "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere",
        "without", "unable",
    }
)  # fmt: skip

STRONG_QUESTION_WORDS = frozenset({"who", "whom", "whose", "when", "where", "why"})
"""Question words that ask for different kinds of answer; ``what``, ``which`` and ``how``
are left out: paraphrases swap them freely."""

NUMBER_WORDS = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "million": 1_000_000, "billion": 1_000_000_000, "dozen": 12, "twice": 2, "once": 1,
    "thrice": 3, "single": 1, "double": 2, "triple": 3,
}  # fmt: skip

ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "twentieth": 20,
    "hundredth": 100,
}  # fmt: skip

ROMAN = {
    "II": 2, "III": 3, "IV": 4, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "XI": 11, "XII": 12,
    "XIII": 13, "XIV": 14, "XV": 15, "XVI": 16, "XX": 20,
}  # fmt: skip
"""Upper-case Roman numerals of two letters or more (``I``, ``V``, ``X`` alone are too
often something else)."""

IRREGULAR = {
    "better": "good", "best": "good", "worse": "bad", "worst": "bad", "more": "many",
    "most": "many", "less": "few", "least": "few", "fewer": "few", "fewest": "few",
    "died": "die", "dead": "die", "death": "die", "dies": "die", "dying": "die",
    "birth": "born", "rose": "rise", "risen": "rise", "fell": "fall", "fallen": "fall",
    "won": "win", "winning": "win", "winner": "win", "lost": "lose", "loss": "lose",
    "loser": "lose", "bought": "buy", "sold": "sell", "sent": "send", "gave": "give",
    "given": "give", "took": "take", "taken": "take", "went": "go", "came": "come",
    "began": "begin", "begun": "begin", "ended": "end", "men": "man", "women": "woman",
    "children": "child", "hated": "hate", "loved": "love", "larger": "large",
    "largest": "large", "smaller": "small", "smallest": "small",
}  # fmt: skip
"""Forms the suffix-stripping stem does not reduce to their base word."""
IRREGULAR.update(
    {
        "farther": "far", "farthest": "far", "further": "far", "furthest": "far",
        "built": "build", "broke": "break", "broken": "break", "paid": "pay", "held": "hold",
        "wrote": "write", "written": "write", "ran": "run", "ate": "eat", "eaten": "eat",
    }
)  # fmt: skip

QUESTION_NOUNS = {
    "year": "when", "time": "when", "date": "when", "day": "when", "month": "when",
    "century": "when", "city": "where", "country": "where", "place": "where",
    "location": "where", "town": "where", "team": "who", "person": "who", "player": "who",
    "author": "who", "reason": "why",
}  # fmt: skip
"""``what year`` asks what ``when`` asks; ``which city`` what ``where`` asks."""

WHY_PHRASES = frozenset({("what", "causes"), ("what", "makes"), ("how", "come")})
"""Ways to ask ``why`` without the word."""

PHRASAL_VERBS = frozenset({"turn", "switch", "power", "shut", "log", "sign"})
PHRASAL_PARTICLES = frozenset({"on", "off", "in", "out"})
"""``turn on`` and ``turn off`` become one word each (``turnon``, ``turnoff``), contrasted
below: ``on`` and ``off`` alone are too common to contrast."""

ANTONYM_PAIRS = [
    ("increase", "decrease"), ("rise", "fall"), ("raise", "lower"), ("up", "down"),
    ("many", "few"), ("maximum", "minimum"), ("max", "min"), ("high", "low"),
    ("big", "small"), ("large", "small"), ("tall", "short"), ("long", "short"),
    ("fast", "slow"), ("quick", "slow"), ("early", "late"), ("before", "after"),
    ("first", "last"), ("start", "end"), ("begin", "end"), ("start", "finish"),
    ("start", "stop"), ("open", "close"), ("turnon", "turnoff"), ("turnin", "turnout"),
    ("inside", "outside"),
    ("above", "below"), ("over", "under"), ("top", "bottom"), ("left", "right"),
    ("north", "south"), ("east", "west"), ("hot", "cold"), ("warm", "cold"),
    ("warm", "cool"), ("wet", "dry"), ("light", "dark"), ("light", "heavy"),
    ("hard", "soft"), ("hard", "easy"), ("easy", "difficult"), ("cheap", "expensive"),
    ("rich", "poor"), ("strong", "weak"), ("young", "old"), ("new", "old"),
    ("good", "bad"), ("right", "wrong"), ("true", "false"), ("yes", "no"),
    ("win", "lose"), ("buy", "sell"), ("import", "export"), ("push", "pull"),
    ("add", "remove"), ("add", "subtract"), ("plus", "minus"), ("include", "exclude"),
    ("enable", "disable"), ("allow", "forbid"), ("allow", "deny"), ("allow", "prohibit"),
    ("allowed", "forbidden"), ("permit", "forbid"), ("accept", "reject"),
    ("approve", "reject"), ("approve", "deny"), ("love", "hate"), ("like", "hate"),
    ("happy", "sad"), ("safe", "dangerous"), ("pros", "cons"), ("benefit", "drawback"),
    ("profit", "lose"), ("gain", "lose"), ("ascending", "descending"), ("asc", "desc"),
    ("encrypt", "decrypt"), ("upload", "download"), ("create", "delete"),
    ("create", "destroy"), ("create", "remove"), ("delete", "restore"),
    ("send", "receive"), ("send", "request"), ("give", "take"), ("lend", "borrow"),
    ("arrive", "leave"), ("arrive", "depart"), ("arrival", "departure"),
    ("arrive", "departure"), ("enter", "exit"), ("entrance", "exit"), ("login", "logout"),
    ("input", "output"), ("day", "night"), ("morning", "evening"), ("morning", "night"),
    ("today", "tomorrow"), ("today", "yesterday"), ("tomorrow", "yesterday"),
    ("summer", "winter"), ("boil", "freeze"), ("boiling", "freezing"), ("man", "woman"),
    ("male", "female"), ("boy", "girl"), ("husband", "wife"), ("father", "mother"),
    ("son", "daughter"), ("brother", "sister"), ("king", "queen"),
    ("positive", "negative"), ("success", "failure"), ("succeed", "fail"),
    ("pass", "fail"), ("always", "never"), ("everyone", "nobody"), ("present", "absent"),
    ("alive", "die"), ("born", "die"), ("renew", "cancel"), ("book", "cancel"),
    ("reserve", "cancel"), ("schedule", "cancel"), ("set", "cancel"), ("order", "cancel"),
    ("confirm", "cancel"), ("keep", "cancel"), ("upgrade", "downgrade"),
    ("remember", "forget"), ("hire", "fire"), ("ask", "answer"), ("friend", "enemy"),
    ("sweet", "sour"), ("raw", "cooked"), ("thick", "thin"), ("wide", "narrow"),
    ("deep", "shallow"), ("near", "far"), ("close", "far"), ("full", "empty"),
    ("clean", "dirty"), ("fresh", "stale"), ("quiet", "loud"), ("majority", "minority"),
    ("internal", "external"), ("private", "public"), ("local", "remote"),
    ("manual", "automatic"), ("online", "offline"), ("sync", "async"),
    ("synchronous", "asynchronous"), ("static", "dynamic"), ("lowercase", "uppercase"),
    ("vertical", "horizontal"), ("client", "server"), ("read", "write"),
    ("compress", "decompress"), ("encode", "decode"), ("serialize", "deserialize"),
    ("harmful", "harmless"), ("harmful", "beneficial"), ("harmful", "good"),
    ("damage", "good"), ("right", "incorrect"), ("correct", "wrong"), ("free", "paid"),
    ("allow", "ban"), ("break", "work"), ("play", "stop"), ("play", "pause"),
    ("resume", "pause"), ("calm", "energetic"), ("relax", "energetic"), ("mute", "unmute"),
]  # fmt: skip

SIBLINGS = [
    # Mutually exclusive alternatives: one text naming one, the other another, ask apart.
    # A member may list synonyms ("child kid").
    "cat|dog|horse|cow|pig|sheep|goat|rabbit|hamster|mouse|rat|parrot|chicken|duck|fish|"
    "snake|lizard|turtle|spider|ant|bee|wasp|mosquito|lion|tiger|wolf|fox|elephant|monkey",
    "breakfast|brunch|lunch|dinner supper|snack",
    "rain|snow|hail|sleet|fog|storm|thunder",
    "baby infant|toddler|child kid children|teenager teen adolescent|adult|senior elderly",
    "laptop|phone smartphone|tablet ipad|desktop|smartwatch|tv television",
    "boil|fry|bake|grill|roast|steam|poach|microwave",
    "chicken|beef|pork|lamb|fish|tofu|salmon|tuna|shrimp",
    "coffee|tea|beer|wine|juice|milk|soda|whisky|vodka",
    "apple|banana|grape|strawberry|mango|pear|peach|cherry|lemon|lime|watermelon|pineapple|"
    "avocado|bread|egg|rice|pasta|cheese|butter|sugar|salt|flour",
    "potato|tomato|carrot|onion|garlic|broccoli|spinach|lettuce|cucumber",
    "heart|liver|kidney|lung|brain|stomach|skin|bone|eye|ear|teeth tooth",
    "diabetes|asthma|cancer|flu influenza|covid|malaria|arthritis|migraine|pneumonia",
    "ibuprofen|paracetamol acetaminophen tylenol|aspirin|antibiotic",
    "python|java|javascript js|typescript|ruby|rust|php|kotlin|scala|perl|haskell|golang|"
    "matlab|bash|powershell|csharp|cpp",
    "windows|linux|ubuntu|debian|fedora|macos mac|android|ios",
    "mysql|postgres postgresql|sqlite|mongodb|redis|oracle",
    "pdf|csv|json|xml|yaml|html|docx|xlsx|png|jpeg jpg|gif",
    "car|bus|train|plane airplane|bike bicycle|boat ship|taxi|subway metro",
    "monday|tuesday|wednesday|thursday|friday|saturday|sunday",
    "january|february|march|april|june|july|august|september|october|november|december",
    "spring|summer|autumn|winter",
    "today|tomorrow|yesterday|tonight",
    "red|blue|green|yellow|black|white|orange|purple|pink|brown|gray grey",
    "mercury|venus|mars|jupiter|saturn|uranus|neptune|pluto|moon|sun",
    "dollar usd|euro eur|yen jpy|yuan rmb|rupee|peso|franc",
    "meter metre|kilometer kilometre km|mile|foot feet|inch|centimeter cm|yard",
    "kilogram kg|gram|ounce oz|ton tonne",
    "liter litre|gallon|milliliter ml",
    "celsius|fahrenheit|kelvin",
    "minute|hour|week|month|year",
    "football soccer|basketball|tennis|golf|baseball|cricket|hockey|rugby|volleyball",
    "guitar|piano|violin|drum|flute|trumpet|saxophone",
    "kitchen|bedroom|bathroom|garage|garden|basement|attic",
    "gold|silver|copper|iron|steel|aluminium aluminum|platinum",
    "before|after|within|during|until",
    "maximum max|minimum min|average mean|recommended|typical|median",
    "salty|spicy|sweet|sour|bitter|bland",
    "long length|wide width|tall high height|deep depth|heavy weight",
    "delay|cancel|divert",
    "cash|card|check cheque|transfer",
]
"""Each line a group of alternatives (``|``) of synonyms (space): a text naming one member
and another text naming another member ask about different things."""


NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")

DIRECTION_MARKERS = frozenset({"to", "from", "than", "into", "vs", "versus"})
SKIPPED_AFTER_MARKER = frozenset(
    {"the", "a", "an", "my", "your", "our", "their", "his", "her", "its", "this", "that"}
)


def _words(text: str) -> list[str]:
    return text.split()


SENTENCE_STARTERS = frozenset(
    _words(
        """
    a about after all also am an and any are as at be because been before between but by
    can could did do does done during each every few for from had has have he her here hers
    him his how i if in into is it its just let many may me might more most must my no not
    now of on once only or our out over please she should since so some such than that the
    their them then there these they this those though through to too under until up very
    was we were what when where whether which while who whom whose why will with within
    without would yes yet you your hi hello hey thanks thank ok okay dear
    add answer ask book calculate call cancel change check choose compare compute convert
    create define delete describe design do draw estimate explain find fix generate get give
    help identify imagine list look make name open order outline pay play plan please predict
    provide put read recommend remind remove rename rephrase request reserve rewrite run say
    schedule search send set share show sort spell start stop suggest summarise summarize
    switch take teach tell transfer translate turn update use wake walk write
    adjust apply arrange assign attach build buy cook count cut decrease disable divide draft
    drive edit email enable enter erase export fetch fill filter format forward grab import
    increase insert install keep launch learn leave load lock log lower measure merge mix
    move mute note organise organize paste pause pick post print raise record reduce refresh
    register reload remember repeat replace reply report reset restart restore resume return
    review save scan select sell ship sign skip split subscribe subtract sum swap sync text
    track trim type undo uninstall unlock unmute upload verify view visit watch
    """
    )
)
"""Words that often start a sentence capitalised without naming anything."""
