"""Where the AWS and Azure regions are: ``provider:region`` -> the grid zone or country of its data centres.

codecarbon's packaged cloud table (``codecarbon/data/cloud/impact.csv``) holds Google Cloud's regions only, with
Google's own per-region intensities. An AWS or Azure region is priced with the intensity of the place it lies in
(:mod:`recipes.carbon`: a US state from EPA eGRID, a Nordic bidding zone, a Chinese province, else the country),
and the record says so (``pricing.carbon_source.via``). The locations are the providers' published region
locations (AWS "Regions and Availability Zones", Azure "Azure geographies"); a region missing here is an unknown
region (the error lists the nearest names), never a guess.
"""
from __future__ import annotations

from typing import Dict, Tuple

__all__ = ["CLOUD_LOCATIONS"]

#: ``provider:region`` -> (zone or country code known to :mod:`recipes.carbon`, the place in words)
CLOUD_LOCATIONS: Dict[str, Tuple[str, str]] = {
    # Amazon Web Services
    "aws:us-east-1": ("US-VA", "Northern Virginia"),
    "aws:us-east-2": ("US-OH", "Ohio"),
    "aws:us-west-1": ("US-CA", "Northern California"),
    "aws:us-west-2": ("US-OR", "Oregon"),
    "aws:ca-central-1": ("CAN", "Montreal, Canada"),
    "aws:sa-east-1": ("BRA", "Sao Paulo, Brazil"),
    "aws:eu-west-1": ("IRL", "Ireland"),
    "aws:eu-west-2": ("GBR", "London"),
    "aws:eu-west-3": ("FRA", "Paris"),
    "aws:eu-central-1": ("DEU", "Frankfurt"),
    "aws:eu-central-2": ("CHE", "Zurich"),
    "aws:eu-north-1": ("SE3", "Stockholm"),
    "aws:eu-south-1": ("ITA", "Milan"),
    "aws:eu-south-2": ("ESP", "Aragon, Spain"),
    "aws:af-south-1": ("ZAF", "Cape Town"),
    "aws:me-south-1": ("BHR", "Bahrain"),
    "aws:me-central-1": ("ARE", "United Arab Emirates"),
    "aws:ap-east-1": ("HKG", "Hong Kong"),
    "aws:ap-south-1": ("IND", "Mumbai"),
    "aws:ap-northeast-1": ("JPN", "Tokyo"),
    "aws:ap-northeast-2": ("KOR", "Seoul"),
    "aws:ap-northeast-3": ("JPN", "Osaka"),
    "aws:ap-southeast-1": ("SGP", "Singapore"),
    "aws:ap-southeast-2": ("AUS", "Sydney"),
    "aws:ap-southeast-3": ("IDN", "Jakarta"),
    # Microsoft Azure
    "azure:eastus": ("US-VA", "Virginia"),
    "azure:eastus2": ("US-VA", "Virginia"),
    "azure:centralus": ("US-IA", "Iowa"),
    "azure:northcentralus": ("US-IL", "Illinois"),
    "azure:southcentralus": ("US-TX", "Texas"),
    "azure:westcentralus": ("US-WY", "Wyoming"),
    "azure:westus": ("US-CA", "California"),
    "azure:westus2": ("US-WA", "Washington"),
    "azure:westus3": ("US-AZ", "Phoenix, Arizona"),
    "azure:canadacentral": ("CAN", "Toronto, Canada"),
    "azure:canadaeast": ("CAN", "Quebec City, Canada"),
    "azure:brazilsouth": ("BRA", "Sao Paulo State, Brazil"),
    "azure:northeurope": ("IRL", "Ireland"),
    "azure:westeurope": ("NLD", "Netherlands"),
    "azure:francecentral": ("FRA", "Paris"),
    "azure:germanywestcentral": ("DEU", "Frankfurt"),
    "azure:uksouth": ("GBR", "London"),
    "azure:ukwest": ("GBR", "Cardiff"),
    "azure:swedencentral": ("SE3", "Gavle and Sandviken, Sweden"),
    "azure:norwayeast": ("NO1", "Oslo"),
    "azure:switzerlandnorth": ("CHE", "Zurich"),
    "azure:italynorth": ("ITA", "Milan"),
    "azure:polandcentral": ("POL", "Warsaw"),
    "azure:southafricanorth": ("ZAF", "Johannesburg"),
    "azure:uaenorth": ("ARE", "Dubai"),
    "azure:centralindia": ("IND", "Pune"),
    "azure:japaneast": ("JPN", "Tokyo, Saitama"),
    "azure:japanwest": ("JPN", "Osaka"),
    "azure:koreacentral": ("KOR", "Seoul"),
    "azure:southeastasia": ("SGP", "Singapore"),
    "azure:eastasia": ("HKG", "Hong Kong"),
    "azure:australiaeast": ("AUS", "New South Wales"),
}
