"""SetupIrsa: check the input against the account and cluster (reads only); fill in roleName."""

from eksops.irsa_steps import validate_input
from eksops.lambda_step import step_handler
from eksops.models.setup_irsa import SetupIrsaInput

lambda_handler = step_handler(SetupIrsaInput, validate_input, input_key="input")
