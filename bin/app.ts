#!/usr/bin/env node
// The CDK app: one stack per stage. `npx cdk deploy -c stage=dev` (or prod, or any stage name).
import { App } from 'aws-cdk-lib';
import { addRoomcastStage } from '../lib/app.js';

const app = new App();
addRoomcastStage(app);
app.synth();
