"""The fixed inputs every measurement uses, so raw and served numbers see the same work.

``SENTENCES`` are 200 English sentences of varied length (a few words to a short
paragraph), the kind of text an embeddings service is sent, in a fixed mixed order.
``ECHO_TEXTS`` are short strings for the echo model and the FastAPI baseline. Requests
rotate through them so a result cache could not turn the benchmark into a lookup.
"""

from __future__ import annotations

import random
from typing import Any

_WRITTEN: list[str] = [
    "The meeting has been moved to Thursday afternoon.",
    "Please reset my password.",
    "How do I cancel my subscription before the next billing cycle?",
    "The quarterly report shows revenue grew by eight percent compared with last year.",
    "Our flight was delayed by three hours because of fog at the departure airport.",
    "I love this coffee.",
    "The new library opens on Monday and will stay open until ten in the evening.",
    "Can you recommend a good book about the history of mathematics?",
    "The patient reported mild headaches and occasional dizziness after starting the medication.",
    "Shipping was fast, but the box arrived slightly damaged.",
    "Where is the nearest train station?",
    "The committee approved the budget after a long debate about the cost of road repairs.",
    "Machine learning models need careful evaluation on data they have never seen before.",
    "It rained all weekend, so we stayed inside and played board games with the kids.",
    "The invoice total does not match the amount on the original purchase order.",
    "She finished the marathon in just under four hours.",
    "Turn left at the second traffic light and the bakery will be on your right.",
    "The software update fixed the battery drain but introduced a bug in the calendar.",
    "Thanks for your quick reply!",
    "We are looking for a senior backend engineer with experience in distributed systems.",
    "The museum's new exhibition explores how maps shaped the way people understood the world.",
    "My order number is 48213 and it still has not shipped.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The hotel room was clean and quiet, although the breakfast was rather disappointing.",
    "Is the restaurant open on public holidays?",
    "Climate scientists warn that heat waves will become longer and more frequent.",
    "The printer on the third floor keeps jamming whenever someone prints double-sided pages.",
    "He apologized for the misunderstanding and offered to refund the full amount.",
    "The river flooded the lower part of the village after days of heavy rain.",
    "What time does the pharmacy close?",
    "Our team shipped the feature two days early thanks to excellent collaboration.",
    "The contract renews automatically unless either party gives thirty days' notice.",
    "A good night's sleep improves memory and concentration.",
    "The bridge will be closed for maintenance from midnight until five in the morning.",
    "I would like to change the delivery address for my last order.",
    "The orchestra performed Beethoven's ninth symphony to a sold-out audience.",
    "Customers can return unused items within thirty days for a full refund.",
    "The startup raised twelve million dollars to expand into European markets.",
    "Fresh basil, ripe tomatoes and a drizzle of olive oil make a simple summer salad.",
    "The server returned an unexpected error while processing the payment.",
    "Our neighbors adopted a rescue dog that barks at every passing bicycle.",
    "The lecture covers linear algebra, probability and the basics of optimization.",
    "Please find attached the signed agreement and the updated project timeline.",
    "The app crashes every time I try to upload a photo from my gallery.",
    "Volcanic eruptions can affect global temperatures for several years.",
    "The candidate impressed the panel with her clear thinking and calm manner.",
    "Traffic on the highway was backed up for miles after the accident.",
    "Do you offer student discounts?",
    "The recipe calls for two cups of flour, one egg and a pinch of salt.",
    "Researchers found that regular exercise lowers the risk of heart disease.",
    "The city council plans to add bike lanes along the main avenue next spring.",
    "I cannot log in because the verification code never arrives by text message.",
    "The old lighthouse on the cliff has guided ships safely into harbor for a century.",
    "Our warehouse processes about fifteen thousand orders on a busy day.",
    "She speaks four languages and is learning a fifth.",
    "The documentary follows a family of elephants across the savanna during a drought.",
    "Please confirm your attendance by replying to this email before Friday.",
    "The stock market fell sharply after the central bank raised interest rates.",
    "My laptop gets very hot when I run video calls for more than an hour.",
    "The garden is full of roses, lavender and buzzing bees in early June.",
    "Good documentation saves hours of confusion for every new developer on a team.",
    "The train to the airport leaves every fifteen minutes during peak hours.",
    "Why was my card declined?",
    "The children built a sandcastle with towers, a moat and a little flag on top.",
    "Ancient Rome relied on aqueducts to bring fresh water into the city.",
    "The support agent was patient and solved my problem in less than ten minutes.",
    "Our rent is going up by five percent starting next month.",
    "The telescope captured detailed images of a galaxy millions of light years away.",
    "I think the second chapter of the novel is slower than the rest.",
    "Employees may work from home up to three days a week with their manager's approval.",
    "The bakery sells out of croissants by nine o'clock most mornings.",
    "A sudden power outage interrupted the final round of the chess tournament.",
    "The vaccine trial enrolled more than thirty thousand volunteers on three continents.",
    "Could you send me the slides from yesterday's presentation?",
    "The mountain trail is steep but the view from the summit is worth every step.",
    "We noticed unusual login attempts on your account from an unknown device.",
    "The festival features live music, street food and fireworks over the lake.",
    "Please keep your seatbelt fastened while the sign is illuminated.",
    "The company plans to reduce its carbon emissions by half before the end of the decade.",
    "This blender is loud but it crushes ice in seconds.",
    "The professor extended the deadline for the final essay by one week.",
    "A strong earthquake shook the coastal region early on Sunday morning.",
    "How long does it take to get a new passport?",
    "The new phone has a brighter screen, a better camera and a longer battery life.",
    "Our database migration finished overnight without any downtime for users.",
    "The farmers' market moves indoors during the winter months.",
    "He learned to play the guitar by watching videos and practicing every evening.",
    "The insurance claim was rejected because the damage happened before the policy began.",
    "Wildfires forced thousands of residents to leave their homes last summer.",
    "Please do not reply to this automated message.",
    "The football match ended in a draw after a late goal in extra time.",
    "I need to book a table for six people on Saturday at eight.",
    "The conference will be held online this year to make it easier for people to attend.",
    "Bees play a crucial role in pollinating the crops that feed the world.",
    "The heating in our apartment has not worked since last Tuesday.",
    "Her first novel won a national prize and was translated into twenty languages.",
    "The API rate limit is one hundred requests per minute for each key.",
    "We drove along the coast and stopped in small fishing villages for lunch.",
    "The doctor recommended drinking more water and taking short walks after meals.",
    "Your package has been delivered to the front desk of your building.",
    "The painting was sold at auction for far more than the experts had predicted.",
    "I accidentally deleted an important file; is there any way to recover it?",
    "The school introduced a new program that teaches coding to students from age eight.",
    "Prices for fresh vegetables rose sharply after the unusually dry summer.",
    "The cat sleeps on the windowsill every afternoon.",
    "Our quarterly planning session identified three priorities for the engineering team.",
    "The historic center of the town is best explored on foot.",
    "The headphones cancel noise well but feel uncomfortable after a couple of hours.",
    "Scientists have discovered a new species of frog in the rainforest.",
    "Please update the spreadsheet with the latest sales figures before the meeting.",
    "The ferry crossing was rough, and many passengers felt seasick.",
    "What is the difference between a savings account and a checking account?",
    "The team celebrated the product launch with a dinner at a local restaurant.",
    "Solar panels on the roof now cover most of the building's electricity needs.",
    "The package tracking page says my parcel is stuck at the customs office.",
    "The author reads from her new collection of short stories at the bookstore tonight.",
    "Children under twelve travel free when accompanied by an adult.",
    "The network outage affected customers in the northern region for about two hours.",
    "The city's population has doubled over the past thirty years.",
    "Our landlord finally agreed to replace the broken windows in the bedroom.",
    "The algorithm sorts the list in linear time when the keys are small integers.",
    "Bring warm clothes, because the nights in the desert can be surprisingly cold.",
    "The hospital opened a new wing dedicated to children's care.",
    "Can I pay in installments?",
    "The band announced a world tour starting in Tokyo and ending in Buenos Aires.",
    "The river cruise includes guided tours of four medieval towns.",
    "Regular backups protect small businesses from losing years of work to a single failure.",
    "The toddler refused to eat anything green at dinner.",
    "The report recommends investing in public transport rather than building new roads.",
    "My flight was cancelled and the airline has not offered any alternative.",
    "The ocean absorbs a large share of the heat trapped by greenhouse gases.",
    "We should schedule a follow-up call to discuss the remaining open questions.",
    "The smartwatch tracks heart rate, sleep and the number of steps taken each day.",
    "The old factory was converted into apartments, studios and a small cinema.",
    "Students must submit their applications online by the fifteenth of March.",
    "The soup was too salty, but the bread was excellent.",
    "A new study links social media use to shorter attention spans among teenagers.",
    "The elevator is out of service, so please use the stairs at the end of the hall.",
    "The negotiations stalled over the question of who would pay for the cleanup.",
    "I found a wallet on the bus this morning and handed it to the driver.",
    "Our website will be unavailable on Sunday night for scheduled maintenance.",
    "The forest was quiet except for the sound of a distant woodpecker.",
    "Managers reported that the new scheduling tool saved each team several hours a week.",
    "How many vacation days do new employees get in their first year?",
    "The satellite will map the ocean floor with unprecedented precision.",
    "The wedding took place in a small chapel overlooking the sea.",
    "This error usually means the configuration file is missing a required field.",
    "The coach praised the players for their discipline and determination.",
    "After years of decline, the number of wolves in the region is growing again.",
    "The hotel offers free parking and a shuttle to the city center.",
    "We regret to inform you that the event has been postponed.",
    "The translation kept the meaning of the poem but lost some of its rhythm.",
    "The new policy requires two-factor authentication for all administrator accounts.",
    "He spent the summer volunteering at an animal shelter near his hometown.",
    "Demand for electric cars has grown faster than most analysts expected.",
    "The pasta should be cooked until it is tender but still firm to the bite.",
    "The committee will announce the winners of the science fair next week.",
    "My neighbor's music kept me awake until two in the morning.",
    "Large language models can summarize long documents, but they sometimes invent facts.",
    "The storm knocked down trees and left thousands of homes without power.",
    "Please bring a valid photo ID to the appointment.",
    "The archaeologists uncovered pottery and coins dating back two thousand years.",
    "The gym is crowded in the evenings, so I usually go early in the morning.",
    "Our customer satisfaction score improved after we shortened response times.",
    "The mountains were covered in snow well into late May this year.",
    "Is there a vegetarian option on the menu?",
    "The startup's founders met while studying physics at the same university.",
    "The tenant is responsible for minor repairs, while the owner covers structural damage.",
    "Cycling to work has made me fitter and saves me money on fuel.",
    "The film's soundtrack was composed entirely on vintage synthesizers.",
    "Unfortunately the item you ordered is out of stock until next month.",
    "The ancient library held thousands of scrolls on astronomy, medicine and law.",
    "Rising sea levels threaten low-lying islands and coastal cities around the world.",
    "The manager asked everyone to review the safety guidelines before the shift.",
    "I would rate the service five stars if the delivery had been on time.",
    "The volcano has been dormant for centuries, but scientists monitor it closely.",
    "Our marketing campaign reached more than a million people in its first week.",
    "The kitchen renovation took twice as long and cost more than we had planned.",
    "The bus driver waited for the elderly passenger to find a seat before driving off.",
    "Does this jacket come in a larger size?",
    "The research team published their results in a leading medical journal.",
    "The village holds a harvest festival every autumn with music and dancing.",
    (
        "Thank you for contacting us about your recent stay. We are sorry that the air "
        "conditioning in your room failed during the heat wave and that the front desk did "
        "not offer you another room straight away. We have refunded the last two nights and "
        "passed your comments to the hotel manager, who will review how staff handle "
        "maintenance problems at night."
    ),
    "A well-designed interface lets users complete their tasks without reading a manual.",
    "The water in the lake was clear enough to see the stones on the bottom.",
    "He forgot his umbrella and arrived at the office soaked to the skin.",
    "The central bank expects inflation to return to its target within two years.",
    "Our cloud costs dropped by a third after we switched off idle development servers.",
    "The hikers followed the river upstream until they reached a hidden waterfall.",
    "The deadline is tight, but I am confident we can deliver the first version on time.",
    "When the power came back on, every clock in the house was blinking midnight.",
    "The zoo's new panda cub made its first public appearance on Saturday.",
    (
        "After comparing several providers, we chose the one with the clearest pricing, "
        "the best support hours and a data center in our own country."
    ),
    (
        "The customer explained that the device worked for a week, then stopped charging, "
        "and that the replacement cable from the store made no difference at all."
    ),
    (
        "In the long run, the city hopes that cheaper public transport, safer cycling routes "
        "and more green space will make the center a place people want to live in again."
    ),
    (
        "The engineers traced the latency spikes to a garbage collection pause in one service, "
        "which only happened when the cache was cold after a deployment."
    ),
    (
        "Although the first reviews were mixed, word of mouth turned the small independent film "
        "into one of the most talked-about releases of the year."
    ),
    (
        "To apply, send a short cover letter, your resume and two references; we will contact "
        "shortlisted candidates within two weeks of the closing date."
    ),
    (
        "The study followed ten thousand adults for twenty years and found that those who walked "
        "daily lived longer, regardless of their weight or diet."
    ),
    (
        "Please note that the office will be closed between Christmas and New Year, and that "
        "urgent requests during that time should be sent to the on-call address."
    ),
]


def _mixed(sentences: list[str]) -> list[str]:
    # Written roughly by length; served batches mix lengths, and a batch pads every text to
    # its longest, so raw batches must mix them the same way for the ratio to be fair.
    mixed = list(sentences)
    random.Random(0).shuffle(mixed)
    return mixed


SENTENCES: list[str] = _mixed(_WRITTEN)
ECHO_TEXTS: list[str] = [f"hello from request {i:03d}" for i in range(200)]

_INPUTS: dict[str, list[str]] = {"echo": ECHO_TEXTS, "embeddings": SENTENCES}


def inputs_for(model: str) -> list[Any]:
    """The input items of ``model`` (echo: short strings; embeddings: the sentences)."""
    try:
        return _INPUTS[model]
    except KeyError:
        raise ValueError(f"no benchmark inputs for model {model!r}") from None
