"""Text of the sample lead-magnet PDFs, as data (layout lives in make_pdfs.py).

Each guide is a dict with:
  business, tagline   shown on the title page and in the footer
  title, subtitle     title page
  intro               title page paragraph
  inside              "What's inside" bullet list on the title page
  body                list of blocks, rendered in order:
                        ("h", text)      section heading
                        ("h2", text)     sub-heading
                        ("p", text)      paragraph
                        ("ul", [items])  bulleted list
                        ("table", rows)  table, first row = headings
  cta                 last page: title, text, list (what they get), action (the /plan line)

Texts use fpdf2 core fonts, so latin-1 only: accents are fine, but write "oe" for the
ligature, "-" for dashes, straight or latin-1 quotes, no emoji. **bold** works in
paragraphs, list items and tables (fpdf2 markdown); avoid a double hyphen, which underlines.
French spacing is added by make_pdfs.py (a no-break space before ; : ! ? and inside « »):
type ordinary spaces.
"""

LABELS = {
    "en": {
        "inside": "What's inside",
        "by": "A free guide from",
        "you_get": "What you will get:",
        "page": "Page",
        "back": "Back to the chat",
        "scan": "Scan the code or tap the link to open the chat in Telegram, get the other "
        "guides or ask us a question.",
    },
    "fr": {
        "inside": "Au sommaire",
        "by": "Un guide offert par",
        "you_get": "Ce que vous recevrez :",
        "page": "Page",
        "back": "Retour à la conversation",
        "scan": "Scannez le code ou touchez le lien pour ouvrir la conversation dans Telegram, "
        "recevoir les autres guides ou nous poser une question.",
    },
}

# Accent colour (RGB) of each guide.
COLOURS = {
    "what-to-wear": (166, 84, 58),
    "gardening-basics": (46, 110, 60),
    "training-plan": (28, 86, 150),
}

CTA_EN = "It's simple: reply /plan in the chat to get your personalised plan."
CTA_FR = "C'est simple : répondez /plan dans la conversation pour recevoir votre plan personnalisé."

# --------------------------------------------------------------------------------------
# 1. Photographer: what to wear for your photo shoot
# --------------------------------------------------------------------------------------

WHAT_TO_WEAR_EN = {
    "business": "Studio Lumière",
    "tagline": "Portrait, family and wedding photography",
    "title": "What to wear for your photo shoot",
    "subtitle": "A simple, photographer-approved guide to outfits that look great on camera",
    "intro": (
        "Clothes are the one part of your photos you fully control. The right outfit makes "
        "you feel like yourself, keeps the attention on your face and ages well: you will "
        "still love these pictures in ten years. This guide collects everything we tell our "
        "clients before a session."
    ),
    "inside": [
        "Colours that flatter you on camera",
        "Patterns and details to avoid",
        "Layering, texture and fit",
        "Advice for weddings, families and portraits",
        "A checklist for the day before and the big day",
    ],
    "body": [
        ("h", "1. Choose your colours"),
        (
            "p",
            "Camera sensors and skin tones both love soft, medium tones. Pick a small "
            "palette first, then build every outfit from it.",
        ),
        (
            "ul",
            [
                "**Go for mid-tones and muted shades:** dusty blue, sage, olive, rust, "
                "mustard, burgundy, camel, cream. They flatter most skin tones and look rich "
                "in print.",
                "**Limit the palette to 3 or 4 colours** (plus a neutral) for group photos. "
                "Coordinate, do not match: everyone in white shirts and jeans looks dated.",
                "**Be careful with pure white and pure black:** bright white loses all "
                "detail in sunlight and black turns into a flat shape. Prefer ivory, cream, "
                "charcoal or navy.",
                "**Avoid neon and very saturated colours:** they reflect onto the skin (a "
                "bright green top gives a green chin) and pull the eye away from faces.",
                "**Think about the location:** earthy tones for fields and forests, soft "
                "pastels for the beach, one bold colour (red, cobalt) against a neutral city "
                "wall.",
            ],
        ),
        ("h", "2. Patterns and details to avoid"),
        (
            "ul",
            [
                "**Thin stripes, small checks and tight houndstooth:** they create a "
                "shimmering moiré effect on camera.",
                "**Logos, slogans and big lettering:** they catch the eye, date the picture "
                "and cannot always be retouched.",
                "**Busy prints on everyone:** one person in a soft floral or a large-scale "
                "pattern is enough; everyone else stays plain.",
                "**Clothes you keep fixing:** very short skirts, gaping shirts, straps that "
                "slip. If you have to tug at it, you will not relax.",
                "**Shiny fabrics:** satin and metallic finishes create harsh hot spots. "
                "Matte fabrics photograph better.",
            ],
        ),
        (
            "p",
            "**A good test:** put the outfit on, stand near a window and have someone "
            "photograph you with a phone from three metres away. If something distracts you "
            "on the screen, it will distract you on the wall.",
        ),
        ("h", "3. Layering, texture and fit"),
        (
            "p",
            "Layers and textures make photos look rich, and they give you something to do "
            "with your hands.",
        ),
        (
            "ul",
            [
                "**Add one layer:** a denim jacket, a blazer, a long cardigan or a scarf. "
                "Taking it off halfway through gives two looks in one session.",
                "**Mix textures:** chunky knit, linen, denim, suede, lace. Texture adds depth "
                "even when the colours are neutral.",
                "**Fit matters more than the label:** clothes should follow your shape "
                "without pulling. Try everything on, sit down, raise your arms.",
                "**Iron or steam everything** the day before. Creases are hard to fix in editing.",
                "**Shoes show in full-length shots:** clean, comfortable and in the style of "
                "the outfit. Skip white trainers unless the whole look is casual.",
                "**Accessories:** one statement piece (earrings, a hat, a watch) beats many. "
                "Take off fitness trackers and lanyards.",
            ],
        ),
        ("h", "4. Advice for each type of shoot"),
        ("h2", "Wedding and engagement"),
        (
            "ul",
            [
                "For the engagement session, bring two outfits: one casual, one dressier, in "
                "colours that suit each other and the location.",
                "On the wedding day, break in your shoes beforehand and keep a flat pair for "
                "the couple portraits on grass or sand.",
                "Prepare an emergency kit: safety pins, a stain pen, tissues, blotting papers "
                "and a small mirror.",
            ],
        ),
        ("h2", "Family"),
        (
            "ul",
            [
                "Start from one piece you love (often a patterned dress) and pick everyone "
                "else's colours from it.",
                "Dress children in comfortable clothes they can sit and run in, and bring a "
                "spare outfit: snacks and puddles happen.",
                "Long dresses and skirts work well for sitting on the ground; avoid short ones.",
                "Adults: check your outfit when you kneel, and avoid visible underwear lines.",
            ],
        ),
        ("h2", "Portrait and professional headshots"),
        (
            "ul",
            [
                "Choose solid colours close to your brand and a neckline that frames your "
                "face: V-neck, open collar or crew neck.",
                "Bring 2 or 3 tops; a jacket over a plain top is the classic, versatile option.",
                "In close-ups, elbow-length sleeves or longer look more polished than "
                "sleeveless tops.",
                "Keep make-up natural but slightly defined, and your hair the way you "
                "usually wear it, so people recognise you.",
            ],
        ),
        ("h", "5. Hair, make-up and final touches"),
        (
            "ul",
            [
                "**Hair:** get a trim one or two weeks before, not the day before, and bring "
                "a brush, a little hairspray and a few hair ties.",
                "**Make-up:** slightly more than usual, matte rather than shimmery, set with "
                "powder. Men too: a touch of matte powder on the forehead and nose stops shine.",
                "**Hands and nails:** hands appear in many poses (and in every ring shot). "
                "Clean nails, neutral or freshly done polish.",
                "**Glasses:** keep them if you always wear them, people know you with them. "
                "We will adjust the angle to avoid reflections.",
                "**Skin:** sleep well, drink water, and do not try a new skincare product or "
                "a fresh tan in the last few days.",
            ],
        ),
        ("h", "6. Your checklist"),
        ("h2", "The day before"),
        (
            "ul",
            [
                "Outfits chosen, tried on and photographed with your phone",
                "Everything ironed or steamed and hung up",
                "Shoes cleaned, spare pair packed",
                "Haircut done at least a week before, not the day before",
                "Emergency kit: lint roller, safety pins, hair ties, stain pen",
                "Water and snacks for the children",
            ],
        ),
        ("h2", "On the day"),
        (
            "ul",
            [
                "Arrive 10 minutes early to change and relax",
                "Empty your pockets: phone, keys, wallet",
                "Remove hair ties from your wrists and take off fitness trackers",
                "Check collars, buttons and labels",
                "Breathe and have fun: we take care of the rest",
            ],
        ),
    ],
    "cta": {
        "title": "Want advice for your own shoot?",
        "text": (
            "Every session is different: the location, the season, the people in the "
            "picture and the mood you want. We are happy to look at your ideas and suggest "
            "outfits made for you."
        ),
        "list": [
            "A colour palette chosen for your location and season",
            "Outfit ideas for each person in the picture",
            "The best time of day for the light at your location",
        ],
        "action": CTA_EN,
    },
}

WHAT_TO_WEAR_FR = {
    "business": "Studio Lumière",
    "tagline": "Photographe portrait, famille et mariage",
    "title": "Que porter pour votre séance photo",
    "subtitle": (
        "Le guide simple, validé par une photographe, pour des tenues qui rendent bien à l'image"
    ),
    "intro": (
        "Les vêtements sont la seule partie de vos photos que vous maîtrisez entièrement. "
        "Une tenue bien choisie vous ressemble, laisse toute la place à votre visage et "
        "vieillit bien : vous aimerez encore ces images dans dix ans. Nous avons réuni ici "
        "tout ce que nous expliquons à nos clients avant une séance."
    ),
    "inside": [
        "Les couleurs qui vous mettent en valeur",
        "Les motifs et détails à éviter",
        "Superpositions, matières et coupe",
        "Nos conseils pour les mariages, les familles et les portraits",
        "Une check-list pour la veille et le jour J",
    ],
    "body": [
        ("h", "1. Choisir vos couleurs"),
        (
            "p",
            "Les capteurs photo comme les carnations adorent les tons moyens et doux. "
            "Choisissez d'abord une petite palette, puis composez toutes les tenues à partir "
            "d'elle.",
        ),
        (
            "ul",
            [
                "**Privilégiez les tons moyens et un peu éteints :** bleu poudré, vert sauge, "
                "olive, rouille, moutarde, bordeaux, camel, crème. Ils flattent la plupart "
                "des peaux et rendent magnifiquement à l'impression.",
                "**Limitez-vous à 3 ou 4 couleurs** (plus un neutre) pour les photos de "
                "groupe. Harmonisez sans uniformiser : tout le monde en chemise blanche et "
                "jean, cela fait vite daté.",
                "**Attention au blanc pur et au noir :** le blanc éclatant perd tous ses "
                "détails au soleil, le noir devient une masse sans relief. Préférez ivoire, "
                "crème, anthracite ou marine.",
                "**Évitez le fluo et les couleurs très saturées :** elles se reflètent sur la "
                "peau (un haut vert vif donne un menton verdâtre) et détournent le regard "
                "des visages.",
                "**Pensez au lieu :** tons terreux pour les champs et la forêt, pastels doux "
                "pour la plage, une couleur forte (rouge, bleu cobalt) devant un mur urbain "
                "neutre.",
            ],
        ),
        ("h", "2. Les motifs et détails à éviter"),
        (
            "ul",
            [
                "**Fines rayures, petits carreaux, pied-de-poule serré :** ils créent un "
                "effet de moiré qui scintille à l'image.",
                "**Logos, slogans et grosses inscriptions :** ils attirent le regard, datent la "
                "photo et ne se retouchent pas toujours.",
                "**Des imprimés chargés sur tout le monde :** une seule personne en imprimé "
                "(fleurs douces ou grand motif) suffit, les autres restent en uni.",
                "**Les vêtements à réajuster sans cesse :** jupe très courte, chemise qui "
                "bâille, bretelles qui glissent. Si vous tirez dessus, vous ne serez pas "
                "à l'aise.",
                "**Les tissus brillants :** satin et finitions métallisées créent des reflets "
                "durs. Les matières mates rendent mieux.",
            ],
        ),
        (
            "p",
            "**Un bon test :** enfilez la tenue, placez-vous près d'une fenêtre et faites-vous "
            "photographier au téléphone à trois mètres. Si un détail vous gêne sur l'écran, "
            "il vous gênera sur le tirage.",
        ),
        ("h", "3. Superpositions, matières et coupe"),
        (
            "p",
            "Les couches et les matières donnent de la profondeur aux images, et elles "
            "occupent vos mains.",
        ),
        (
            "ul",
            [
                "**Ajoutez une couche :** veste en jean, blazer, long gilet ou écharpe. En la "
                "retirant à mi-séance, vous obtenez deux looks en une seule fois.",
                "**Mélangez les matières :** grosse maille, lin, denim, daim, dentelle. La "
                "texture apporte du relief, même avec des couleurs neutres.",
                "**La coupe compte plus que la marque :** le vêtement doit suivre votre "
                "silhouette sans tirer. Essayez tout, asseyez-vous, levez les bras.",
                "**Repassez ou défroissez tout** la veille. Les plis sont difficiles à "
                "corriger en retouche.",
                "**Les chaussures se voient sur les plans en pied :** propres, confortables "
                "et dans le style de la tenue. Oubliez les baskets blanches, sauf si tout le "
                "look est décontracté.",
                "**Accessoires :** une seule pièce forte (boucles d'oreilles, chapeau, montre) "
                "vaut mieux que plusieurs. Retirez montres connectées et cordons de badge.",
            ],
        ),
        ("h", "4. Nos conseils selon la séance"),
        ("h2", "Mariage et séance engagement"),
        (
            "ul",
            [
                "Pour la séance engagement, prévoyez deux tenues : une décontractée, une plus "
                "habillée, dans des couleurs qui s'accordent entre elles et avec le lieu.",
                "Le jour du mariage, faites vos chaussures à l'avance et gardez une paire "
                "plate pour les portraits de couple dans l'herbe ou le sable.",
                "Préparez un kit de secours : épingles à nourrice, stylo détachant, "
                "mouchoirs, papiers matifiants et petit miroir.",
            ],
        ),
        ("h2", "Famille"),
        (
            "ul",
            [
                "Partez d'une pièce que vous aimez (souvent une robe imprimée) et choisissez "
                "les couleurs des autres à partir d'elle.",
                "Habillez les enfants confortablement, pour qu'ils puissent s'asseoir et "
                "courir, et prévoyez une tenue de rechange : goûter et flaques arrivent vite.",
                "Robes et jupes longues sont idéales pour s'asseoir par terre ; évitez les "
                "modèles courts.",
                "Adultes : vérifiez votre tenue à genoux et évitez les sous-vêtements qui "
                "marquent.",
            ],
        ),
        ("h2", "Portrait et photo professionnelle"),
        (
            "ul",
            [
                "Choisissez des couleurs unies proches de votre image de marque et une "
                "encolure qui encadre le visage : col V, col ouvert ou col rond.",
                "Apportez 2 ou 3 hauts ; une veste sur un haut uni reste l'option "
                "polyvalente par excellence.",
                "En gros plan, des manches au coude ou plus longues font plus soigné qu'un "
                "haut sans manches.",
                "Maquillage naturel mais un peu plus marqué, coiffure habituelle : on doit "
                "vous reconnaître.",
            ],
        ),
        ("h", "5. Cheveux, maquillage et derniers détails"),
        (
            "ul",
            [
                "**Cheveux :** passez chez le coiffeur une à deux semaines avant, pas la veille, "
                "et emportez une brosse, un peu de laque et quelques élastiques.",
                "**Maquillage :** un peu plus marqué que d'habitude, mat plutôt que nacré, fixé "
                "à la poudre. Messieurs aussi : une touche de poudre matifiante sur le front et "
                "le nez évite les brillances.",
                "**Mains et ongles :** les mains apparaissent dans beaucoup de poses (et sur "
                "toutes les photos d'alliances). Ongles propres, vernis neutre ou tout frais.",
                "**Lunettes :** gardez-les si vous les portez tous les jours, on vous connaît "
                "avec. Nous ajusterons l'angle pour éviter les reflets.",
                "**Peau :** dormez bien, buvez de l'eau, et ne testez ni nouveau soin ni "
                "autobronzant dans les derniers jours.",
            ],
        ),
        ("h", "6. Votre check-list"),
        ("h2", "La veille"),
        (
            "ul",
            [
                "Tenues choisies, essayées et photographiées avec votre téléphone",
                "Tout est repassé ou défroissé, puis suspendu",
                "Chaussures nettoyées, paire de rechange dans le sac",
                "Coupe de cheveux faite au moins une semaine avant, pas la veille",
                "Kit de secours : rouleau anti-peluches, épingles, élastiques, stylo détachant",
                "Eau et goûter pour les enfants",
            ],
        ),
        ("h2", "Le jour J"),
        (
            "ul",
            [
                "Arrivez 10 minutes en avance pour vous changer et souffler",
                "Videz vos poches : téléphone, clés, portefeuille",
                "Retirez les élastiques de vos poignets et votre montre connectée",
                "Vérifiez cols, boutons et étiquettes",
                "Respirez et amusez-vous : nous nous occupons du reste",
            ],
        ),
    ],
    "cta": {
        "title": "Envie de conseils pour votre propre séance ?",
        "text": (
            "Chaque séance est unique : le lieu, la saison, les personnes sur la photo et "
            "l'ambiance que vous recherchez. Nous regardons volontiers vos idées pour vous "
            "proposer des tenues pensées pour vous."
        ),
        "list": [
            "Une palette de couleurs adaptée à votre lieu et à la saison",
            "Des idées de tenues pour chaque personne sur la photo",
            "Le meilleur moment de la journée pour la lumière sur place",
        ],
        "action": CTA_FR,
    },
}

# --------------------------------------------------------------------------------------
# 2. Garden centre: beginner's gardening guide
# --------------------------------------------------------------------------------------

GARDENING_EN = {
    "business": "Greenleaf Garden Centre",
    "tagline": "Plants, seeds and friendly advice since 1987",
    "title": "Beginner's gardening guide",
    "subtitle": "Everything you need for a first season that actually grows",
    "intro": (
        "Gardening is easier than it looks once you understand four things: your light, "
        "your soil, your watering and the calendar. This guide covers the basics we explain "
        "every day at the counter, with a season-by-season planting list and the mistakes "
        "almost every beginner makes (we made them too)."
    ),
    "inside": [
        "Know your light and your soil",
        "Watering without drowning your plants",
        "What to plant, season by season",
        "Gardening on a balcony",
        "The 8 most common beginner mistakes",
    ],
    "body": [
        ("h", "1. Start with light and soil"),
        (
            "p",
            "Before buying a single plant, spend a day watching where the sun falls. Most "
            "vegetables, herbs and flowers need at least 6 hours of direct sun; salads, "
            "leafy greens and many shrubs cope with 3 to 4 hours.",
        ),
        ("h2", "Get to know your soil"),
        (
            "ul",
            [
                "**The squeeze test:** squeeze a handful of moist soil. A sticky ball that "
                "keeps its shape is clay (rich but heavy). Gritty soil that falls apart is "
                "sandy (drains and dries fast). If it crumbles gently, you have loam: "
                "congratulations.",
                "**Check the pH** with an inexpensive kit: most plants like 6 to 7. "
                "Blueberries, rhododendrons and camellias want acid soil (4.5 to 5.5) and do "
                "best in pots of ericaceous compost.",
                "**Feed the soil, not the plant:** spread 5 cm of well-rotted compost or "
                "manure over your beds every autumn or early spring. The worms will do the "
                "digging for you.",
                "**Never work wet soil:** if it sticks to your boots, wait. Walking on wet "
                "clay squeezes out the air that roots need.",
                "**Raised beds** fix poor or waterlogged soil: 20 to 30 cm deep, filled with "
                "a mix of topsoil and compost.",
            ],
        ),
        ("h", "2. Watering the right way"),
        (
            "p",
            "More plants die from bad watering than from anything else. The rule: water "
            "deeply and less often, so that roots grow down to where the soil stays moist.",
        ),
        (
            "ul",
            [
                "**Use the finger test:** push a finger 3 cm into the soil. Dry? Water. "
                "Still moist? Wait a day.",
                "**Water the soil, not the leaves,** early in the morning: less evaporation "
                "and fewer fungal diseases. The evening is second best.",
                "**Give a real soak:** about 10 litres per square metre once or twice a week "
                "in dry weather does more good than a splash every day.",
                "**Pots dry out much faster:** in summer, check them daily and water until "
                "it runs out of the bottom. Always use pots with drainage holes.",
                "**New trees and shrubs** need regular watering through their whole first "
                "summer, even when they look fine.",
                "**Mulch:** 5 cm of bark, straw or compost on the surface keeps moisture in, "
                "keeps weeds down and feeds the soil. Leave a gap around stems.",
                "**Collect rainwater:** a water butt on a downpipe fills quickly, and plants "
                "prefer it to tap water.",
            ],
        ),
        ("h", "3. What to plant, season by season"),
        (
            "p",
            "These dates are for a temperate climate (most of the UK, northern France, "
            "Belgium and similar). If your winters are harsher or milder, shift them by two "
            "to four weeks, or ask us for local dates.",
        ),
        ("h2", "Spring (March - May)"),
        (
            "ul",
            [
                "Sow outdoors: peas, radishes, lettuce, spinach, carrots, beetroot.",
                "Plant: early potatoes, onion sets, strawberries, perennials and hardy shrubs.",
                "Sow indoors on a sunny windowsill: tomatoes, peppers, courgettes and basil, "
                "to plant out after the last frost (usually mid-May).",
            ],
        ),
        ("h2", "Summer (June - August)"),
        (
            "ul",
            [
                "Plant out tomatoes, courgettes, squash, beans and basil once nights stay "
                "above 10°C.",
                "Sow lettuce and radishes every 2 to 3 weeks for a continuous harvest.",
                "In July, sow spring cabbage, kale and late carrots for autumn.",
                "Pick often: courgettes and beans produce more the more you harvest.",
            ],
        ),
        ("h2", "Autumn (September - November)"),
        (
            "ul",
            [
                "The best season to plant trees, shrubs, hedges and perennials: the soil is "
                "still warm and the rain does the watering.",
                "Plant spring bulbs: daffodils and crocuses in September-October, tulips in "
                "November.",
                "Plant garlic cloves and sow broad beans for an early summer harvest.",
                "Cover empty beds with compost or fallen leaves instead of leaving them bare.",
            ],
        ),
        ("h2", "Winter (December - February)"),
        (
            "ul",
            [
                "Plant bare-root fruit trees, roses and hedging whenever the ground is not frozen.",
                "Prune apple and pear trees; leave plums and cherries until summer.",
                "Order seeds, plan next year's beds, and from February set seed potatoes to "
                "chit on a cool windowsill.",
                "Clean and sharpen your tools.",
            ],
        ),
        ("h", "4. Gardening on a balcony"),
        (
            "p",
            "No garden? A sunny balcony can keep you in salads and herbs all summer.",
        ),
        (
            "ul",
            [
                "**Check the weight limit and the wind:** tall plants need heavy pots and a "
                "sheltered corner.",
                "**Use the biggest pots you can:** at least 30 cm deep for tomatoes, 20 cm "
                "for herbs and salads. Bigger pots dry out more slowly.",
                "**Use good potting compost,** never garden soil, and mix in a slow-release "
                "fertiliser.",
                "**Easy winners:** cherry tomatoes, strawberries, lettuce, chives, parsley, "
                "thyme, rosemary, dwarf beans, and mint in its own pot (it spreads).",
                "**Shady balcony:** try mint, parsley, lettuce, ferns, hostas, fuchsias and "
                "begonias.",
            ],
        ),
        ("h", "5. The most common beginner mistakes"),
        (
            "ul",
            [
                "**Overwatering:** yellow, limp leaves in wet soil mean too much water, not "
                "too little.",
                "**Planting too early:** one late frost can kill tender plants. Wait until "
                "mid-May for tomatoes, courgettes and basil.",
                "**Doing too much at once:** start with one bed or five pots. A small, "
                "well-kept space beats a big neglected one.",
                "**Wrong plant, wrong place:** read the label for sun, shade and final size, "
                "and believe it.",
                "**Planting too close:** seedlings look tiny. Thin them to the spacing on the "
                "packet, or they will all stay weak.",
                "**Too much fertiliser:** lots of leaves, few flowers or fruit. In the "
                "ground, compost is usually enough.",
                "**Ignoring pests until it is too late:** walk round every few days, look "
                "under the leaves, remove slugs and caterpillars early.",
                "**Leaving soil bare:** weeds move in fast. Mulch it, or sow a green manure "
                "such as phacelia.",
            ],
        ),
    ],
    "cta": {
        "title": "Want a plan for your own space?",
        "text": (
            "Every garden is different: the light, the soil, the space and the time you "
            "have. Tell us about yours and we will put together a simple plan for your first "
            "season."
        ),
        "list": [
            "What to grow where, based on your light and soil",
            "A month-by-month calendar of what to do",
            "A shopping list that fits your budget, with no gadgets you will not use",
        ],
        "action": CTA_EN,
    },
}

GARDENING_FR = {
    "business": "Jardinerie Greenleaf",
    "tagline": "Plantes, graines et bons conseils depuis 1987",
    "title": "Guide du jardinage pour débutants",
    "subtitle": "Tout ce qu'il faut savoir pour réussir votre première saison",
    "intro": (
        "Le jardinage est plus simple qu'il n'y paraît dès qu'on a compris quatre choses : "
        "la lumière, la terre, l'arrosage et le calendrier. Ce guide reprend les bases que "
        "nous expliquons chaque jour en magasin, avec un calendrier de plantation saison par "
        "saison et les erreurs que font presque tous les débutants (nous aussi, nous les "
        "avons faites)."
    ),
    "inside": [
        "Connaître sa lumière et sa terre",
        "Arroser sans noyer",
        "Que planter, saison par saison",
        "Jardiner sur un balcon",
        "Les 8 erreurs de débutant les plus courantes",
    ],
    "body": [
        ("h", "1. D'abord, la lumière et la terre"),
        (
            "p",
            "Avant d'acheter la moindre plante, passez une journée à observer où tombe le "
            "soleil. La plupart des légumes, aromatiques et fleurs veulent au moins 6 heures "
            "de soleil direct ; les salades, les légumes-feuilles et beaucoup d'arbustes se "
            "contentent de 3 à 4 heures.",
        ),
        ("h2", "Apprenez à connaître votre terre"),
        (
            "ul",
            [
                "**Le test de la poignée :** serrez une poignée de terre humide. Une boule "
                "collante qui garde sa forme ? Terre argileuse (riche mais lourde). Elle "
                "s'effrite et crisse sous les doigts ? Terre sableuse (elle draine et sèche "
                "vite). Elle se défait doucement ? Bravo, vous avez une terre franche.",
                "**Mesurez le pH** avec un kit bon marché : la plupart des plantes aiment un "
                "pH entre 6 et 7. Myrtilles, rhododendrons et camélias veulent une terre "
                "acide (4,5 à 5,5) et se plaisent en pot, dans de la terre de bruyère.",
                "**Nourrissez la terre, pas la plante :** étalez 5 cm de compost bien mûr ou "
                "de fumier décomposé sur vos massifs chaque automne ou en début de printemps. "
                "Les vers de terre travailleront le sol pour vous.",
                "**Ne travaillez jamais une terre détrempée :** si elle colle aux bottes, "
                "attendez. Piétiner une argile mouillée chasse l'air dont les racines ont "
                "besoin.",
                "**Les bacs surélevés** sauvent les terres pauvres ou trop humides : 20 à "
                "30 cm de profondeur, remplis d'un mélange de terre végétale et de compost.",
            ],
        ),
        ("h", "2. Bien arroser"),
        (
            "p",
            "L'arrosage tue plus de plantes que tout le reste réuni. La règle : arroser "
            "copieusement mais moins souvent, pour que les racines descendent chercher la "
            "fraîcheur en profondeur.",
        ),
        (
            "ul",
            [
                "**Faites le test du doigt :** enfoncez un doigt sur 3 cm. C'est sec ? "
                "Arrosez. Encore frais ? Attendez un jour.",
                "**Arrosez le pied, pas le feuillage,** tôt le matin : moins d'évaporation et "
                "moins de maladies. Le soir reste la deuxième meilleure option.",
                "**Arrosez vraiment :** environ 10 litres par mètre carré, une à deux fois par "
                "semaine par temps sec, valent mieux qu'un petit arrosage quotidien.",
                "**Les pots sèchent beaucoup plus vite :** en été, vérifiez-les chaque jour "
                "et arrosez jusqu'à ce que l'eau ressorte par-dessous. Choisissez toujours "
                "des pots percés.",
                "**Les arbres et arbustes fraîchement plantés** demandent des arrosages "
                "réguliers pendant tout leur premier été, même s'ils ont l'air en forme.",
                "**Paillez :** 5 cm d'écorces, de paille ou de compost en surface gardent "
                "l'humidité, limitent les mauvaises herbes et nourrissent le sol. Laissez un "
                "espace autour des tiges.",
                "**Récupérez l'eau de pluie :** une cuve sous une descente de gouttière se "
                "remplit vite, et les plantes la préfèrent à l'eau du robinet.",
            ],
        ),
        ("h", "3. Que planter, saison par saison"),
        (
            "p",
            "Ces dates valent pour un climat tempéré (la majeure partie de la France et de la "
            "Belgique, la Suisse en plaine). Si vos hivers sont plus rudes ou plus doux, "
            "décalez de deux à quatre semaines, ou demandez-nous les dates de votre région.",
        ),
        ("h2", "Printemps (mars - mai)"),
        (
            "ul",
            [
                "Semez en pleine terre : petits pois, radis, laitues, épinards, carottes, "
                "betteraves.",
                "Plantez : pommes de terre primeurs, bulbilles d'oignon, fraisiers, vivaces "
                "et arbustes rustiques.",
                "Semez au chaud, sur un rebord de fenêtre bien éclairé : tomates, poivrons, "
                "courgettes et basilic, à mettre en place après les Saints de Glace "
                "(mi-mai).",
            ],
        ),
        ("h2", "Été (juin - août)"),
        (
            "ul",
            [
                "Plantez tomates, courgettes, courges, haricots et basilic dès que les nuits "
                "restent au-dessus de 10 °C.",
                "Semez laitues et radis toutes les 2 à 3 semaines pour récolter sans interruption.",
                "En juillet, semez choux de printemps, chou kale et carottes tardives pour "
                "l'automne.",
                "Récoltez souvent : courgettes et haricots produisent d'autant plus qu'on les "
                "cueille.",
            ],
        ),
        ("h2", "Automne (septembre - novembre)"),
        (
            "ul",
            [
                "La meilleure saison pour planter arbres, arbustes, haies et vivaces : « à la "
                "Sainte-Catherine, tout bois prend racine ».",
                "Plantez les bulbes de printemps : jonquilles et crocus en "
                "septembre-octobre, tulipes en novembre.",
                "Plantez l'ail et semez les fèves pour une récolte en début d'été.",
                "Couvrez les planches vides de compost ou de feuilles mortes plutôt que de "
                "les laisser nues.",
            ],
        ),
        ("h2", "Hiver (décembre - février)"),
        (
            "ul",
            [
                "Plantez fruitiers, rosiers et haies à racines nues, hors période de gel.",
                "Taillez pommiers et poiriers ; attendez l'été pour les pruniers et les cerisiers.",
                "Commandez vos graines, dessinez le plan du potager et, dès février, mettez "
                "les pommes de terre à germer dans une pièce fraîche et claire.",
                "Nettoyez et aiguisez vos outils.",
            ],
        ),
        ("h", "4. Jardiner sur un balcon"),
        (
            "p",
            "Pas de jardin ? Un balcon ensoleillé peut vous fournir salades et aromatiques "
            "tout l'été.",
        ),
        (
            "ul",
            [
                "**Vérifiez la charge admise et le vent :** les grandes plantes demandent des "
                "pots lourds et un coin abrité.",
                "**Prenez les plus grands pots possible :** au moins 30 cm de profondeur pour "
                "les tomates, 20 cm pour les aromatiques et les salades. Plus le pot est "
                "grand, moins il sèche vite.",
                "**Utilisez un bon terreau,** jamais de la terre du jardin, et ajoutez un "
                "engrais à libération lente.",
                "**Les valeurs sûres :** tomates cerises, fraisiers, laitues, ciboulette, "
                "persil, thym, romarin, haricots nains, et la menthe seule dans son pot (elle "
                "envahit tout).",
                "**Balcon à l'ombre :** essayez menthe, persil, laitues, fougères, hostas, "
                "fuchsias et bégonias.",
            ],
        ),
        ("h", "5. Les erreurs de débutant les plus courantes"),
        (
            "ul",
            [
                "**Trop arroser :** des feuilles jaunes et molles dans une terre mouillée "
                "signalent un excès d'eau, pas un manque.",
                "**Planter trop tôt :** une seule gelée tardive peut tuer les plantes "
                "frileuses. Attendez la mi-mai pour les tomates, courgettes et le basilic.",
                "**En faire trop d'un coup :** commencez par une planche ou cinq pots. Un "
                "petit espace bien tenu vaut mieux qu'un grand à l'abandon.",
                "**Mauvaise plante, mauvais endroit :** lisez l'étiquette (soleil, ombre, "
                "taille adulte) et croyez-la.",
                "**Semer trop serré :** les semis paraissent minuscules. Éclaircissez à "
                "l'espacement indiqué sur le sachet, sinon ils resteront tous chétifs.",
                "**Trop d'engrais :** beaucoup de feuilles, peu de fleurs et de fruits. En "
                "pleine terre, le compost suffit généralement.",
                "**Ignorer les ravageurs jusqu'à ce qu'il soit trop tard :** faites le tour "
                "tous les deux ou trois jours, regardez sous les feuilles, retirez limaces et "
                "chenilles tôt.",
                "**Laisser la terre nue :** les mauvaises herbes s'installent vite. Paillez, "
                "ou semez un engrais vert comme la phacélie.",
            ],
        ),
    ],
    "cta": {
        "title": "Envie d'un plan pour votre espace ?",
        "text": (
            "Chaque jardin est différent : la lumière, la terre, la place et le temps dont "
            "vous disposez. Parlez-nous du vôtre et nous vous préparerons un plan simple "
            "pour votre première saison."
        ),
        "list": [
            "Que cultiver, et où, selon votre lumière et votre terre",
            "Un calendrier mois par mois de ce qu'il faut faire",
            "Une liste d'achats adaptée à votre budget, sans gadgets inutiles",
        ],
        "action": CTA_FR,
    },
}

# --------------------------------------------------------------------------------------
# 3. Coach: 7-day training plan
# --------------------------------------------------------------------------------------

TRAINING_EN = {
    "business": "Sam Moreau Coaching",
    "tagline": "Personal training, at home and online",
    "title": "7-day training plan",
    "subtitle": (
        "A complete first week to build strength, stamina and the habit - at home, "
        "no equipment needed"
    ),
    "intro": (
        "This plan is for beginners and for anyone getting back into exercise. It takes 20 "
        "to 40 minutes a day, needs nothing more than some floor space, a sturdy chair and "
        "a backpack, and alternates strength, cardio and recovery so that you finish the "
        "week feeling better, not broken."
    ),
    "inside": [
        "How to train safely",
        "The 5-minute warm-up for every session",
        "Day-by-day workouts with sets, reps and rest",
        "How to progress in week 2",
        "Sleep, food and recovery basics",
    ],
    "body": [
        ("h", "1. Before you start"),
        (
            "ul",
            [
                "**Check with your doctor first** if you have a heart condition, high blood "
                "pressure or an injury, are pregnant, or have not exercised for years.",
                "**Use the effort scale:** from 1 (resting) to 10 (all-out). End strength "
                "sets at 7-8, when you could still do 2 or 3 clean reps. Cardio is at a "
                "conversational 5-6 unless stated.",
                "**Form beats speed:** move slowly and under control, 2 seconds down and "
                "1 second up.",
                "**Pain is a stop sign:** a muscle burn is normal, sharp or joint pain is "
                "not. Stop and switch to an easier version.",
                "**Rest times are between sets.** Use the timer on your phone.",
            ],
        ),
        ("h2", "Warm-up (before every workout, 5 minutes)"),
        (
            "ul",
            [
                "1 minute of marching or jogging on the spot",
                "10 arm circles forwards, 10 backwards",
                "10 bodyweight squats to a comfortable depth",
                "10 hip hinges (hands on hips, push your hips back, back flat)",
                "5 inchworms or 10 slow shoulder rolls",
            ],
        ),
        ("h", "2. Your 7 days"),
        ("h2", "Day 1 - Full-body strength A (about 30 min)"),
        (
            "table",
            [
                ["Exercise", "Sets x reps", "Rest"],
                ["Bodyweight squat", "3 x 12", "60 s"],
                ["Push-up (on knees, or hands on a table)", "3 x 8-10", "60 s"],
                ["Glute bridge", "3 x 15", "45 s"],
                ["Backpack row (bag filled with books)", "3 x 12", "60 s"],
                ["Forearm plank", "3 x 30 s", "45 s"],
            ],
        ),
        ("h2", "Day 2 - Easy cardio (30 min)"),
        (
            "table",
            [
                ["Exercise", "Sets x reps", "Rest"],
                ["Brisk walk, easy jog or bike, at a pace where you can still talk", "25 min", "-"],
                ["Calf and hip stretches", "5 min", "-"],
            ],
        ),
        ("h2", "Day 3 - Full-body strength B (about 30 min)"),
        (
            "table",
            [
                ["Exercise", "Sets x reps", "Rest"],
                ["Reverse lunge (hold a chair if needed)", "3 x 10 per leg", "60 s"],
                ["Chair dip or incline push-up", "3 x 8-10", "60 s"],
                ["Backpack Romanian deadlift", "3 x 12", "60 s"],
                ["Bird dog (opposite arm and leg)", "3 x 8 per side", "45 s"],
                ["Side plank (knees down if needed)", "2 x 20 s per side", "30 s"],
            ],
        ),
        ("h2", "Day 4 - Active recovery (20-30 min)"),
        (
            "table",
            [
                ["Exercise", "Sets x reps", "Rest"],
                ["Easy walk outside", "20 min", "-"],
                ["Cat-cow", "1 x 10", "-"],
                ["Hip flexor stretch", "2 x 30 s per side", "-"],
                ["Hamstring stretch", "2 x 30 s per side", "-"],
                ["Child's pose with slow, deep breathing", "1 min", "-"],
            ],
        ),
        ("h2", "Day 5 - Intervals (about 25 min)"),
        (
            "table",
            [
                ["Exercise", "Sets x reps", "Rest"],
                ["Warm-up: easy walk or jog", "5 min", "-"],
                [
                    "Fast effort at 7-8/10: uphill walk, jog, bike or stairs",
                    "8 x 30 s",
                    "90 s easy",
                ],
                ["Cool-down: easy walk", "5 min", "-"],
            ],
        ),
        ("h2", "Day 6 - Full-body circuit (about 30 min)"),
        (
            "p",
            "Do the five exercises one after the other, rest 2 minutes at the end of the "
            "round, and complete 3 rounds.",
        ),
        (
            "table",
            [
                ["Exercise", "Reps per round", "Rest"],
                ["Squat", "15", "20 s"],
                ["Push-up (your version)", "10", "20 s"],
                ["Reverse lunge", "8 per leg", "20 s"],
                ["Backpack row", "12", "20 s"],
                ["Forearm plank", "40 s", "2 min, then next round"],
            ],
        ),
        ("h2", "Day 7 - Rest and review"),
        (
            "ul",
            [
                "Rest completely, or go for a relaxed walk.",
                "Write down how each workout felt (effort 1 to 10) and any exercise that hurt.",
                "Note three numbers to beat next week: push-ups in one set, plank time, and "
                "how you felt on day 5.",
            ],
        ),
        ("h", "3. How to progress in week 2"),
        (
            "ul",
            [
                "**If a set felt easy (effort 6 or less),** add 2 reps or 1 set next time.",
                "**If it felt too hard (effort 9-10),** keep the same numbers or use the "
                "easier version.",
                "**Cardio:** add 5 minutes on day 2, or one more interval on day 5. Increase "
                "one thing at a time.",
                "**Only progress what you recover from:** if you are still sore after 48 "
                "hours, repeat week 1. That is not failing, it is training.",
            ],
        ),
        ("h", "4. Recovery: sleep, food and water"),
        (
            "ul",
            [
                "**Sleep 7 to 9 hours:** that is when muscles repair. A regular bedtime "
                "helps more than anything else.",
                "**Protein at every meal:** a palm-sized portion of meat, fish, eggs, tofu, "
                "beans or Greek yogurt.",
                "**Half the plate vegetables:** fibre, vitamins and volume for few calories.",
                "**Drink regularly:** a glass of water with each meal and one around your "
                "workout; pale yellow urine is a good sign.",
                "**Walk every day:** aim for 7,000 to 8,000 steps, training days included. "
                "It helps recovery and energy.",
            ],
        ),
    ],
    "cta": {
        "title": "Ready for a plan built around you?",
        "text": (
            "This plan works for most beginners, but the fastest results come from a "
            "programme that fits your goal, your schedule, your equipment and your history. "
            "I build a personalised plan for each client and adjust it every week."
        ),
        "list": [
            "Workouts matched to your goal and your fitness level",
            "A schedule that fits your week, from 2 to 5 sessions",
            "Simple nutrition targets and a weekly check-in",
        ],
        "action": CTA_EN,
    },
}

TRAINING_FR = {
    "business": "Sam Moreau Coaching",
    "tagline": "Coaching sportif à domicile et en ligne",
    "title": "Programme d'entraînement de 7 jours",
    "subtitle": (
        "Une première semaine complète pour gagner en force, en endurance et prendre "
        "l'habitude - à la maison, sans matériel"
    ),
    "intro": (
        "Ce programme s'adresse aux débutants et à tous ceux qui reprennent le sport. Il "
        "demande 20 à 40 minutes par jour, un peu de place au sol, une chaise solide et un "
        "sac à dos, et alterne renforcement, cardio et récupération pour que vous finissiez "
        "la semaine en forme, pas épuisé."
    ),
    "inside": [
        "S'entraîner en toute sécurité",
        "L'échauffement de 5 minutes avant chaque séance",
        "Les séances jour par jour, avec séries, répétitions et repos",
        "Comment progresser en semaine 2",
        "Les bases du sommeil, de l'alimentation et de la récupération",
    ],
    "body": [
        ("h", "1. Avant de commencer"),
        (
            "ul",
            [
                "**Demandez l'avis de votre médecin** si vous avez un problème cardiaque, de "
                "la tension ou une blessure, si vous êtes enceinte, ou si vous n'avez pas "
                "fait de sport depuis des années.",
                "**Utilisez l'échelle d'effort :** de 1 (au repos) à 10 (à fond). Arrêtez "
                "vos séries de renforcement vers 7-8, quand il vous reste 2 ou 3 répétitions "
                "propres. Le cardio se fait à allure « conversation » (5-6), sauf indication "
                "contraire.",
                "**La technique avant la vitesse :** bougez lentement et avec contrôle, "
                "2 secondes à la descente, 1 seconde à la montée.",
                "**La douleur est un signal d'arrêt :** la brûlure musculaire est normale, "
                "une douleur vive ou articulaire ne l'est pas. Arrêtez et passez à une "
                "version plus facile.",
                "**Les temps de repos se prennent entre les séries.** Utilisez le minuteur "
                "de votre téléphone.",
            ],
        ),
        ("h2", "Échauffement (avant chaque séance, 5 minutes)"),
        (
            "ul",
            [
                "1 minute de marche ou de course sur place",
                "10 cercles de bras vers l'avant, 10 vers l'arrière",
                "10 squats au poids du corps, en amplitude confortable",
                "10 flexions de hanches (mains sur les hanches, on recule les fesses, dos plat)",
                "5 « chenilles » (marche des mains au sol) ou 10 rotations lentes des épaules",
            ],
        ),
        ("h", "2. Vos 7 jours"),
        ("h2", "Jour 1 - Renforcement complet A (environ 30 min)"),
        (
            "table",
            [
                ["Exercice", "Séries x rép.", "Repos"],
                ["Squat au poids du corps", "3 x 12", "60 s"],
                ["Pompes (sur les genoux, ou mains sur une table)", "3 x 8-10", "60 s"],
                ["Pont fessier", "3 x 15", "45 s"],
                ["Rowing avec sac à dos (rempli de livres)", "3 x 12", "60 s"],
                ["Gainage sur les avant-bras", "3 x 30 s", "45 s"],
            ],
        ),
        ("h2", "Jour 2 - Cardio léger (30 min)"),
        (
            "table",
            [
                ["Exercice", "Séries x rép.", "Repos"],
                [
                    "Marche rapide, footing léger ou vélo, à une allure où vous pouvez parler",
                    "25 min",
                    "-",
                ],
                ["Étirements des mollets et des hanches", "5 min", "-"],
            ],
        ),
        ("h2", "Jour 3 - Renforcement complet B (environ 30 min)"),
        (
            "table",
            [
                ["Exercice", "Séries x rép.", "Repos"],
                ["Fente arrière (tenez-vous à une chaise si besoin)", "3 x 10 par jambe", "60 s"],
                ["Dips sur chaise ou pompes inclinées", "3 x 8-10", "60 s"],
                ["Soulevé de terre jambes semi-tendues avec sac à dos", "3 x 12", "60 s"],
                ["Bird dog (bras et jambe opposés, à quatre pattes)", "3 x 8 par côté", "45 s"],
                ["Gainage latéral (genoux au sol si besoin)", "2 x 20 s par côté", "30 s"],
            ],
        ),
        ("h2", "Jour 4 - Récupération active (20-30 min)"),
        (
            "table",
            [
                ["Exercice", "Séries x rép.", "Repos"],
                ["Marche tranquille dehors", "20 min", "-"],
                ["Dos rond, dos creux (chat-vache)", "1 x 10", "-"],
                ["Étirement des fléchisseurs de hanche", "2 x 30 s par côté", "-"],
                ["Étirement des ischio-jambiers", "2 x 30 s par côté", "-"],
                ["Posture de l'enfant, respiration lente et profonde", "1 min", "-"],
            ],
        ),
        ("h2", "Jour 5 - Fractionné (environ 25 min)"),
        (
            "table",
            [
                ["Exercice", "Séries x rép.", "Repos"],
                ["Échauffement : marche ou footing léger", "5 min", "-"],
                [
                    "Effort rapide à 7-8/10 : marche en côte, course, vélo ou escaliers",
                    "8 x 30 s",
                    "90 s tranquille",
                ],
                ["Retour au calme : marche", "5 min", "-"],
            ],
        ),
        ("h2", "Jour 6 - Circuit complet (environ 30 min)"),
        (
            "p",
            "Enchaînez les cinq exercices, reposez-vous 2 minutes à la fin du tour et faites "
            "3 tours.",
        ),
        (
            "table",
            [
                ["Exercice", "Rép. par tour", "Repos"],
                ["Squat", "15", "20 s"],
                ["Pompes (votre version)", "10", "20 s"],
                ["Fente arrière", "8 par jambe", "20 s"],
                ["Rowing avec sac à dos", "12", "20 s"],
                ["Gainage sur les avant-bras", "40 s", "2 min, puis tour suivant"],
            ],
        ),
        ("h2", "Jour 7 - Repos et bilan"),
        (
            "ul",
            [
                "Repos complet, ou balade tranquille.",
                "Notez votre ressenti sur chaque séance (effort de 1 à 10) et tout exercice "
                "qui a fait mal.",
                "Relevez trois chiffres à battre la semaine prochaine : pompes en une série, "
                "temps de gainage et sensations au jour 5.",
            ],
        ),
        ("h", "3. Progresser en semaine 2"),
        (
            "ul",
            [
                "**Si une série vous a semblé facile (effort 6 ou moins),** ajoutez "
                "2 répétitions ou 1 série la fois suivante.",
                "**Si elle était trop dure (effort 9-10),** gardez les mêmes chiffres ou "
                "passez à la version plus facile.",
                "**Cardio :** ajoutez 5 minutes au jour 2, ou une répétition de plus au "
                "jour 5. Une seule chose à la fois.",
                "**Ne progressez que si vous récupérez :** si vous avez encore des "
                "courbatures 48 heures après, refaites la semaine 1. Ce n'est pas un échec, "
                "c'est de l'entraînement.",
            ],
        ),
        ("h", "4. Récupérer : sommeil, assiette et hydratation"),
        (
            "ul",
            [
                "**Dormez 7 à 9 heures :** c'est la nuit que les muscles se réparent. Un "
                "coucher régulier aide plus que tout le reste.",
                "**Des protéines à chaque repas :** l'équivalent de la paume de la main en "
                "viande, poisson, oeufs, tofu, légumineuses ou yaourt grec.",
                "**La moitié de l'assiette en légumes :** fibres, vitamines et volume pour "
                "peu de calories.",
                "**Buvez régulièrement :** un verre d'eau à chaque repas et un autour de la "
                "séance ; une urine jaune pâle est bon signe.",
                "**Marchez chaque jour :** visez 7 000 à 8 000 pas, jours d'entraînement "
                "compris. Cela aide la récupération et l'énergie.",
            ],
        ),
    ],
    "cta": {
        "title": "Prêt pour un programme construit pour vous ?",
        "text": (
            "Ce programme convient à la plupart des débutants, mais les résultats les plus "
            "rapides viennent d'un plan adapté à votre objectif, votre emploi du temps, "
            "votre matériel et votre histoire. Je construis un programme personnalisé pour "
            "chaque client et je l'ajuste chaque semaine."
        ),
        "list": [
            "Des séances adaptées à votre objectif et à votre niveau",
            "Un planning qui tient dans votre semaine, de 2 à 5 séances",
            "Des repères alimentaires simples et un suivi chaque semaine",
        ],
        "action": CTA_FR,
    },
}

GUIDES = {
    "what-to-wear": {"en": WHAT_TO_WEAR_EN, "fr": WHAT_TO_WEAR_FR},
    "gardening-basics": {"en": GARDENING_EN, "fr": GARDENING_FR},
    "training-plan": {"en": TRAINING_EN, "fr": TRAINING_FR},
}
