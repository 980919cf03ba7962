module top(input clk, input [31:0] a, b, output reg [63:0] acc);
  wire [63:0] p0, p1, p2, p3;
  assign p0 = (a ^ 0) * (b + 0);
  assign p1 = (a ^ 4369) * (b + 1);
  assign p2 = (a ^ 8738) * (b + 2);
  assign p3 = (a ^ 13107) * (b + 3);
  always @(posedge clk) acc <= acc + p0 + p1 + p2 + p3;
endmodule
