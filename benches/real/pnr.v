module top(input clk, input [7:0] din, output [7:0] dout);
  reg [15:0] a = 1, b = 3;
  reg [31:0] acc = 0;
  always @(posedge clk) begin
    a <= {a[14:0], a[15] ^ a[13] ^ a[12] ^ a[10]} ^ {8'd0, din};
    b <= {b[14:0], b[15] ^ b[14] ^ b[12] ^ b[3]};
    acc <= acc + a * b + (a ^ b) * (b - a);
  end
  assign dout = acc[31:24] ^ acc[7:0];
endmodule
