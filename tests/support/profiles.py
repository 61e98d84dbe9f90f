from __future__ import annotations

BASIC = {"name": "Asha Rao", "city": "Bengaluru", "society": "Prestige Lakeside", "role": "consumer"}
CONSUMER = {"flat_number": "B-1204", "gender": "female", "birth_date": "1994-03-17",
            "preferred_language": "kn"}
ADDRESS = {"house_number": "B-1204", "street": "Sarjapur Road", "landmark": "Near gate",
           "city": "Bengaluru", "society": "Prestige Lakeside", "pincode": "560035", "label": "Home"}
